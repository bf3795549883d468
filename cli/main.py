"""The `nogancolor` command line: a thin Typer layer over the nogancolor library."""

import functools
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)

app = typer.Typer(
    help="Colorize grayscale images with fastai: U-Net, conditional DCGAN and NoGAN on CIFAR-10.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Get CIFAR-10 (or your own image folder) ready for training.", no_args_is_help=True)
train_app = typer.Typer(help="Train a colorization model; each run writes checkpoints, history.csv and val_grid.png.",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


class Split(str, Enum):
    hue = "hue"
    random = "random"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


# Options every `train` command shares.
DataOpt = Annotated[Path, typer.Option(help="Prepared dataset (see `nogancolor data prepare`).")]
SplitOpt = Annotated[Split, typer.Option(help="Validation split: hue-stratified or random.")]
BatchOpt = Annotated[int, typer.Option(min=2, help="Batch size.")]
NTrainOpt = Annotated[Optional[int], typer.Option(help="Use only this many training images (quick runs).")]
NValOpt = Annotated[Optional[int], typer.Option(help="Use only this many validation images.")]
SeedOpt = Annotated[int, typer.Option(help="Seed for weights and batch order.")]
ResumeOpt = Annotated[bool, typer.Option(help="Continue the run in --out from its last finished epoch.")]
ForceOpt = Annotated[bool, typer.Option(help="Start over, replacing a run already in --out.")]


def fail(message: str, code: int = 1):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn the library's user-fixable errors and Ctrl-C into one line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from nogancolor.data import DatasetError
        from nogancolor.export import CheckpointError
        from nogancolor.training import RunError

        try:
            return command(*args, **kwargs)
        except (DatasetError, RunError, CheckpointError, ValueError) as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted; finished epochs are checkpointed, continue with --resume", code=130)

    return wrapper


@data_app.command("prepare")
@user_errors
def data_prepare(
    path: Annotated[Optional[Path], typer.Option(
        envvar="NOGANCOLOR_DATA",
        help="Local dataset: a folder with train/ and test/ of class folders, or a .tar.gz of one. Without it, CIFAR-10 is downloaded "
             "with fastai's untar_data (PNG, lossless).")] = None,
    out: Annotated[Path, typer.Option(help="Where the prepared dataset (arrays, splits, meta.json) goes.")] = Path("data/cifar10"),
    size: Annotated[int, typer.Option(help="Working size; other sizes are centre-cropped and resized.")] = 32,
    gray_tol: Annotated[int, typer.Option(help="An image is gray when its channels differ by at most this many "
                                               "uint8 levels everywhere (2: see nogancolor.data.gray).")] = 2,
    val_fraction: Annotated[float, typer.Option(help="Share of colour train images held out for validation.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the random split (the hue split needs none).")] = 0,
):
    """Decode the images once, drop gray ones, and write the random and hue-stratified splits."""
    from nogancolor.data import prepare_dataset

    meta = prepare_dataset(path, out, size=size, gray_tol=gray_tol, val_fraction=val_fraction, seed=seed,
                           progress=sys.stderr.isatty())
    typer.echo(f"source: {meta['source']}")
    for subset, info in meta["subsets"].items():
        how = "decoded" if info["decoded"] else "unchanged, cache reused"
        typer.echo(f"{subset}: {info['n_files']} images, {info['n_gray']} gray dropped, {info['n_color']} kept ({how})")
    for kind, info in meta["splits"].items():
        typer.echo(f"split {kind}: {info['n_train']} train / {info['n_val']} val -> {out / info['file']}")
    typer.echo(f"prepared dataset: {out}")


@train_app.command("unet")
@user_errors
def train_unet(
    data: DataOpt = Path("data/cifar10"),
    split: SplitOpt = Split.hue,
    arch: Annotated[str, typer.Option(help="'unet' for the small U-Net of the method description, or a torchvision/"
                                            "timm encoder name (resnet18, resnet34, ...) for fastai's DynamicUnet.")] = "unet",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of the one-cycle schedule.")] = 20,
    lr: Annotated[float, typer.Option(help="Peak learning rate (find one with learn.lr_find()).")] = 2e-3,
    bs: BatchOpt = 64,
    base: Annotated[int, typer.Option(min=1, help="Small U-Net: channels of the first layer.")] = 64,
    pretrained: Annotated[bool, typer.Option(help="DynamicUnet: start from ImageNet weights (needs internet).")] = False,
    precision: Annotated[Precision, typer.Option(help="auto = bf16 on GPUs that support it, fp32 on CPU (faster there).")] = Precision.auto,
    n_train: NTrainOpt = None,
    n_val: NValOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Optional[Path], typer.Option(help="Run directory [default: runs/unet-<split> or runs/unet-<arch>-<split>].")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
):
    """Train a U-Net on pixel MSE of ab (Adam, one-cycle) and export it as safetensors + JSON."""
    from nogancolor.training import train_unet as run

    name = "unet" if arch == "unet" else f"unet-{arch}"
    out = out or Path("runs") / f"{name}-{split.value}"
    config = run(data, out, split=split.value, arch=arch, epochs=epochs, lr=lr, bs=bs, base=base, pretrained=pretrained,
                 precision=precision.value, n_train=n_train, n_val=n_val, seed=seed, resume=resume, force=force)
    report(config, out)


@train_app.command("dcgan")
@user_errors
def train_dcgan(
    data: DataOpt = Path("data/cifar10"),
    split: SplitOpt = Split.hue,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs at a constant learning rate.")] = 20,
    lr: Annotated[float, typer.Option(help="Adam learning rate of both networks (beta1 0.5).")] = 2e-4,
    bs: BatchOpt = 64,
    base: Annotated[int, typer.Option(min=1, help="Channels of the first layer of the U-Net and the discriminator.")] = 64,
    l1_weight: Annotated[float, typer.Option(help="lambda: weight of the L1 term in the generator's loss.")] = 100.0,
    real_label: Annotated[float, typer.Option(help="Target for real pairs (one-sided label smoothing; 1 = none).")] = 0.9,
    d_steps: Annotated[int, typer.Option(min=1, help="Discriminator steps per generator step.")] = 1,
    n_train: NTrainOpt = None,
    n_val: NValOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Optional[Path], typer.Option(help="Run directory [default: runs/dcgan-<split>].")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
):
    """Train the conditional DCGAN baseline: U-Net generator vs a (gray, colour) discriminator,
    adversarial loss + lambda * L1, on fastai's GANLearner. Logs G and D losses per epoch."""
    from nogancolor.training import train_dcgan as run

    out = out or Path("runs") / f"dcgan-{split.value}"
    config = run(data, out, split=split.value, epochs=epochs, lr=lr, bs=bs, base=base, l1_weight=l1_weight,
                 real_label=real_label, d_steps=d_steps, n_train=n_train, n_val=n_val, seed=seed, resume=resume, force=force)
    report(config, out)


def report(config: dict, out: Path):
    m = config["metrics"]
    typer.echo(f"exported: val ab MSE {m['val_ab_mse']:.5f}, val PSNR {m['val_psnr']:.2f} dB "
               f"(gray output: {m['val_ab_mse_gray_output']:.5f}, {m['val_psnr_gray_output']:.2f} dB) -> {out / 'model.safetensors'}")


if __name__ == "__main__":
    app()
