"""The `nogancolor` command line: a thin Typer layer over the nogancolor library."""

import functools
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
# fastai's own GANTrainer sets generator/critic/gen_mode on itself, which its Callback warns about
warnings.filterwarnings("ignore", message="You are shadowing an attribute", category=UserWarning)

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


class OutputSpace(str, Enum):
    ab = "ab"
    rgb = "rgb"


# Options every `train` command shares.
DataOpt = Annotated[Path, typer.Option(help="Prepared dataset (see `nogancolor data prepare`).")]
SplitOpt = Annotated[Split, typer.Option(help="Validation split: hue-stratified or random.")]
BatchOpt = Annotated[int, typer.Option(min=2, help="Batch size.")]
NTrainOpt = Annotated[Optional[int], typer.Option(help="Use only this many training images (quick runs).")]
NValOpt = Annotated[Optional[int], typer.Option(help="Use only this many validation images.")]
SeedOpt = Annotated[int, typer.Option(help="Seed for weights and batch order.")]
ResumeOpt = Annotated[bool, typer.Option(help="Continue the run in --out from its last finished epoch.")]
ForceOpt = Annotated[bool, typer.Option(help="Start over, replacing a run already in --out.")]
CompileOpt = Annotated[bool, typer.Option(help="torch.compile the generator: a slow first epoch, then possibly faster "
                                               "steps (measure: benchmarks/train_speed.py --compile); speed only.")]


OUT_OF_TIME = 75  # EX_TEMPFAIL: stopped by --time-budget; the same command continues


def fail(message: str, code: int = 1):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn the library's user-fixable errors and Ctrl-C into one line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from nogancolor.data import DatasetError
        from nogancolor.export import CheckpointError
        from nogancolor.training import OutOfTime, RunError

        try:
            return command(*args, **kwargs)
        except OutOfTime as e:
            fail(str(e), code=OUT_OF_TIME)
        except (DatasetError, RunError, CheckpointError, ValueError, NotImplementedError) as e:
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


ArchOpt = Annotated[str, typer.Option(help="'unet' for the small U-Net of the method description, or a torchvision/"
                                             "timm encoder name (resnet18, resnet34, ...) for fastai's DynamicUnet.")]
PretrainedOpt = Annotated[bool, typer.Option(help="DynamicUnet: start its encoder from ImageNet weights (needs internet).")]
EncoderOpt = Annotated[Optional[Path], typer.Option(help="DynamicUnet: start its encoder from a gray-image classifier of "
                                                         "the same --arch (`train classifier --arch resnet18 --gray`).")]


@train_app.command("unet")
@user_errors
def train_unet(
    data: DataOpt = Path("data/cifar10"),
    split: SplitOpt = Split.hue,
    arch: ArchOpt = "unet",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of the one-cycle schedule.")] = 20,
    lr: Annotated[float, typer.Option(help="Peak learning rate (find one with learn.lr_find()).")] = 2e-3,
    bs: BatchOpt = 64,
    base: Annotated[int, typer.Option(min=1, help="Small U-Net: channels of the first layer.")] = 64,
    pretrained: PretrainedOpt = False,
    encoder: EncoderOpt = None,
    precision: Annotated[Precision, typer.Option(help="auto = bf16 on GPUs that support it, fp32 on CPU (faster there).")] = Precision.auto,
    n_train: NTrainOpt = None,
    n_val: NValOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default: runs/unet-<split> or runs/unet-<arch>-<split>).")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    compile: CompileOpt = False,
):
    """Train a U-Net on pixel MSE of ab (Adam, one-cycle) and export it as safetensors + JSON."""
    from nogancolor.training import train_unet as run

    name = "unet" if arch == "unet" else f"unet-{arch}"
    out = out or Path("runs") / f"{name}-{split.value}"
    config = run(data, out, split=split.value, arch=arch, epochs=epochs, lr=lr, bs=bs, base=base, pretrained=pretrained,
                 encoder=encoder, precision=precision.value, n_train=n_train, n_val=n_val, seed=seed, resume=resume, force=force,
                 compile=compile)
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
    output: Annotated[OutputSpace, typer.Option(help="ab: predict a and b, keep L exactly (like the other methods); "
                                                     "rgb: the seed's 3-channel RGB generator and discriminator.")] = OutputSpace.ab,
    precision: Annotated[Precision, typer.Option(help="auto = bf16 on GPUs that support it, fp32 on CPU.")] = Precision.auto,
    n_train: NTrainOpt = None,
    n_val: NValOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default: runs/dcgan-<split>, runs/dcgan-rgb-<split>).")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    compile: CompileOpt = False,
):
    """Train the conditional DCGAN baseline: U-Net generator vs a (gray, colour) discriminator,
    adversarial loss + lambda * L1, on fastai's GANLearner. Logs G and D losses per epoch."""
    from nogancolor.training import train_dcgan as run

    out = out or Path("runs") / ("dcgan-" + ("rgb-" if output == OutputSpace.rgb else "") + split.value)
    config = run(data, out, split=split.value, epochs=epochs, lr=lr, bs=bs, base=base, l1_weight=l1_weight,
                 real_label=real_label, d_steps=d_steps, output=output.value, precision=precision.value, n_train=n_train,
                 n_val=n_val, seed=seed, resume=resume, force=force, compile=compile)
    report(config, out)


@train_app.command("classifier")
@user_errors
def train_classifier(
    data: DataOpt = Path("data/cifar10"),
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of the one-cycle schedule.")] = 8,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 3e-3,
    bs: BatchOpt = 128,
    base: Annotated[int, typer.Option(min=1, help="cifarnet: channels of the first block (doubling per block).")] = 32,
    arch: Annotated[str, typer.Option(help="Colour classifiers (feature network and judge): cifarnet (small, quick) or "
                                           "cifar-resnet18 (stronger; see docs/usage.md for its GPU recipe). With --gray: a "
                                           "torchvision/timm name cut as a DynamicUnet encoder, for --encoder.")] = "cifarnet",
    gray: Annotated[bool, typer.Option(help="Classify the L channel the generators see, not RGB (needs --arch other "
                                            "than cifarnet).")] = False,
    n_train: NTrainOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/classifier"),
    resume: ResumeOpt = False,
    force: ForceOpt = False,
):
    """Train the CIFAR-10 classifier NoGAN's feature loss and the metrics use (RGB, train images
    outside both validation splits), or with --gray an encoder for DynamicUnet generators, and
    report its accuracy on the official test set."""
    from nogancolor.classify import train_classifier as run

    config = run(data, out, epochs=epochs, lr=lr, bs=bs, base=base, arch=arch, gray=gray, n_train=n_train, seed=seed,
                 resume=resume, force=force)
    typer.echo(f"exported: test accuracy {config['test_accuracy']:.4f} on {config['n_test']} test images "
               f"(trained on {config['n_train']}) -> {out / 'model.safetensors'}")


class FeatureNet(str, Enum):
    cifar = "cifar"
    vgg16_bn = "vgg16_bn"


class SelectRule(str, Enum):
    fcd = "fcd"
    psnr = "psnr"


@train_app.command("nogan")
@user_errors
def train_nogan(
    data: DataOpt = Path("data/cifar10"),
    split: SplitOpt = Split.hue,
    stage: Annotated[Optional[int], typer.Option(min=1, max=3, help="Run only this stage (1 generator, 2 critic, "
                                                                      "3 joint GAN); earlier ones must be done.")] = None,
    gen_epochs: Annotated[int, typer.Option(min=1, help="Stage 1: epochs of generator pretraining (one-cycle).")] = 3,
    gen_lr: Annotated[float, typer.Option(help="Stage 1: peak learning rate.")] = 2e-3,
    critic_epochs: Annotated[int, typer.Option(min=1, help="Stage 2: epochs of critic pretraining (one-cycle).")] = 1,
    critic_lr: Annotated[float, typer.Option(help="Stage 2: peak learning rate.")] = 1e-3,
    gan_epochs: Annotated[float, typer.Option(min=0.001, help="Stage 3: length of the joint phase in passes over "
                                                              "the training set (a fraction is fine).")] = 2.0,
    gan_lr: Annotated[float, typer.Option(help="Stage 3: the generator's AdamW learning rate (betas 0, 0.9).")] = 1e-4,
    critic_lr_mult: Annotated[float, typer.Option(min=0, help="Stage 3: the critic's learning rate as a multiple of "
                                                              "--gan-lr (DeOldify: 5).")] = 5.0,
    wd: Annotated[float, typer.Option(min=0, help="Stage 3: decoupled weight decay of both networks (DeOldify: 1e-3).")] = 1e-3,
    val_every: Annotated[int, typer.Option(min=1, help="Stage 3: validate (PSNR, colourfulness, FCD), log and "
                                                       "update the chosen checkpoint every this many batches.")] = 100,
    select: Annotated[SelectRule, typer.Option(help="Stage 3: the checkpoint to export. fcd = the lowest FCD among "
                                                    "validations whose PSNR stays within --max-psnr-drop of the pretrained "
                                                    "generator's; psnr = the highest PSNR.")] = SelectRule.fcd,
    max_psnr_drop: Annotated[float, typer.Option(min=0, help="Stage 3, --select fcd: dB of val PSNR the exported "
                                                             "checkpoint may give up against the pretrained generator.")] = 1.0,
    n_realism: Annotated[int, typer.Option(min=2, help="Stage 3: evenly spaced validation images for colourfulness "
                                                       "and FCD at each validation.")] = 1000,
    feature_net: Annotated[FeatureNet, typer.Option(help="Feature loss network: cifar (the project's classifier, "
                                                         "see `train classifier`) or vgg16_bn (ImageNet weights, needs internet once).")] = FeatureNet.cifar,
    classifier: Annotated[Optional[Path], typer.Option(help="--feature-net cifar: the classifier's model.safetensors "
                                                            "(default: runs/classifier/model.safetensors).")] = None,
    feature_weight: Annotated[float, typer.Option(help="Stage 3: weight of the feature loss (DeOldify: 1.5).")] = 1.5,
    adv_weight: Annotated[float, typer.Option(help="Stage 3: weight of the adversarial loss (DeOldify: 1).")] = 1.0,
    adv_balance: Annotated[float, typer.Option(min=0, help="Stage 3: if > 0, replaces --adv-weight: each step, the "
                                                           "weight that makes the adversarial gradient at the generator's "
                                                           "output this many times the feature loss's (0: fixed weight).")] = 0.0,
    critic_thresh: Annotated[float, typer.Option(help="Stage 3: the critic trains until its mean BCE falls under "
                                                      "this, then the generator steps (DeOldify: 0.65).")] = 0.65,
    arch: Annotated[str, typer.Option(help="The generator: 'unet' (the small U-Net) or a torchvision/timm encoder "
                                           "name for DeOldify's DynamicUnet (self-attention, spectral norm, blur).")] = "unet",
    pretrained: PretrainedOpt = False,
    encoder: EncoderOpt = None,
    bs: BatchOpt = 64,
    base: Annotated[int, typer.Option(min=1, help="Channels of the first layer of the small U-Net.")] = 64,
    critic_nf: Annotated[int, typer.Option(min=1, help="Channels of the critic's first layer.")] = 64,
    precision: Annotated[Precision, typer.Option(help="auto = bf16 on GPUs that support it, fp32 on CPU.")] = Precision.auto,
    n_train: NTrainOpt = None,
    n_val: NValOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default: runs/nogan-<split>).")] = None,
    force: Annotated[bool, typer.Option(help="Redo stages that are done (all, or --stage).")] = False,
    compile: CompileOpt = False,
):
    """Train NoGAN (DeOldify's schedule): 1) the U-Net on a feature loss, 2) a critic as a binary
    classifier of real vs generated colours, 3) a short joint GAN phase. Done stages are skipped
    and an interrupted one resumes; the final generator is <out>/model.safetensors."""
    from nogancolor.nogan import train_nogan as run

    out = out or Path("runs") / f"nogan-{split.value}"
    results = run(data, out, split=split.value, stage=stage, gen_epochs=gen_epochs, gen_lr=gen_lr, critic_epochs=critic_epochs,
                  critic_lr=critic_lr, gan_epochs=gan_epochs, gan_lr=gan_lr, val_every=val_every, feature_net=feature_net.value,
                  classifier=classifier, feature_weight=feature_weight, adv_weight=adv_weight, critic_thresh=critic_thresh,
                  adv_balance=adv_balance or None,
                  critic_lr_mult=critic_lr_mult, wd=wd, select=select.value, max_psnr_drop=max_psnr_drop, n_realism=n_realism,
                  arch=arch, pretrained=pretrained, encoder=encoder,
                  bs=bs, base=base, critic_nf=critic_nf, precision=precision.value, n_train=n_train, n_val=n_val, seed=seed,
                  force=force, compile=compile, log=typer.echo)
    if 1 in results:
        report(results[1], out / "1-generator", "pretrained generator")
    if results.get(2) is not None:  # None in all but the first of several processes
        m = results[2]["metrics"]
        typer.echo(f"critic: val accuracy {m['val_accuracy']:.4f} on real vs generated pairs, val loss {m['val_loss']:.4f}")
    if 3 in results:
        report(results[3], out, "NoGAN")


class Profile(str, Enum):
    quick = "quick"
    full = "full"


@app.command("compare")
@user_errors
def compare(
    data: DataOpt = Path("data/cifar10"),
    profile: Annotated[Profile, typer.Option(help="quick: a subset and few epochs (under 15 min on a 2-core CPU); "
                                                  "full: all images, tens of epochs (hours on CPU).")] = Profile.quick,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; several give mean ± std.")] = "0",
    out: Annotated[Optional[Path], typer.Option(help="Report folder (default: reports/<profile>).")] = None,
    runs: Annotated[Path, typer.Option(help="Where the runs go (each profile in its own compare-<profile>-<hash> folder).")] = Path("runs"),
    settings: Annotated[Optional[Path], typer.Option(help="A JSON file of settings replacing the profile's (same keys as "
                                                          "nogancolor.compare.PROFILES; dry runs use tiny ones).")] = None,
    time_budget: Annotated[Optional[float], typer.Option(min=0, help="Minutes: stop at the last epoch boundary that fits "
                                                                     "(exit code 75); the same command continues.")] = None,
    compile: CompileOpt = False,
    force: Annotated[bool, typer.Option(help="Retrain runs that already exist.")] = False,
):
    """Train U-Net, conditional DCGAN and NoGAN on both splits, evaluate them on validation and
    test, and write report.md with the metric table, comparison figures and training curves.
    Finished runs are reused; a killed or out-of-time compare resumes where it stopped."""
    import json

    from nogancolor.compare import compare as run

    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        fail(f"--seeds must be comma-separated integers, got {seeds!r}")
    try:
        overrides = json.loads(settings.read_text()) if settings else None
    except (OSError, ValueError) as e:
        fail(f"{settings}: not a readable JSON settings file ({e})")
    report_dir = run(data, profile.value, seeds=seed_list, out=out, runs=runs, force=force, progress=sys.stderr.isatty(),
                     log=typer.echo, command=" ".join(["nogancolor", *sys.argv[1:]]), settings=overrides,
                     budget=None if time_budget is None else time_budget * 60, compile=compile)
    typer.echo(f"report: {report_dir / 'report.md'}")


class EvalSet(str, Enum):
    val = "val"
    test = "test"


@app.command("evaluate")
@user_errors
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="An exported model.safetensors (any method).")],
    set_: Annotated[EvalSet, typer.Option("--set", help="val: the validation images of the model's split; test: the "
                                                         "official test set.")] = EvalSet.val,
    data: DataOpt = Path("data/cifar10"),
    split: Annotated[Optional[Split], typer.Option(help="Validation split to use (default: the model's own).")] = None,
    classifier: Annotated[Path, typer.Option(help="CIFAR-10 classifier for accuracy and the Frechet classifier "
                                                  "distance (skipped if missing).")] = Path("runs/classifier/model.safetensors"),
    n_images: Annotated[Optional[int], typer.Option(min=1, help="Evaluate an evenly spaced subset of this many images "
                                                                "(default: the whole set).")] = None,
    bs: BatchOpt = 256,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda ... (default: cpu).")] = None,
):
    """Measure a trained model on a whole set: ab MSE, PSNR, SSIM, ab-error AuC, colorfulness,
    classifier accuracy on its colorizations, Frechet classifier distance. Writes
    eval-<set>.json and .csv beside the checkpoint."""
    from nogancolor.evaluate import evaluate_checkpoint

    record = evaluate_checkpoint(checkpoint, data, set_.value, split.value if split else None, classifier, bs=bs,
                                 device=device, progress=sys.stderr.isatty(), n_images=n_images)
    for key, value in record.items():
        typer.echo(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    typer.echo(f"-> {Path(checkpoint).parent / ('eval-' + set_.value)}.json, .csv")


@app.command("predict")
@user_errors
def predict(
    source: Annotated[Path, typer.Argument(help="An image, a video (.mp4, .mov, .avi, .mkv, .webm) or a folder of them "
                                                "(searched recursively).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file, or folder for a folder input "
                                                   "(default: <name>_color beside the input).")] = None,
    model: Annotated[Optional[Path], typer.Option(help="An exported model.safetensors (default: the best trained under "
                                                       "runs/: NoGAN, else U-Net, else DCGAN).")] = None,
    render_size: Annotated[Optional[int], typer.Option(min=32, help="Working resolution the model sees (a multiple of "
                                                                    "32) (default: its training size). Colour is "
                                                                    "upsampled and joined with the full-resolution L.")] = None,
    compare: Annotated[bool, typer.Option(help="Write gray input | colour side by side.")] = False,
    smooth: Annotated[float, typer.Option(min=0.0, max=0.99, help="Videos: weight of the previous frame's colour "
                                                                  "(0 = off; 0.5 calms flicker).")] = 0.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Images or frames per model call.")] = 16,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if available).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Folders: redo outputs that already exist (by default they are "
                                                 "skipped, so an interrupted run goes on where it stopped).")] = False,
):
    """Colorize your own photos, folders and videos with a trained model. Output images keep the
    input's size and format; colour inputs are made gray first. Outputs are written under a
    temporary name and renamed when complete; in a folder, those already there are skipped."""
    from nogancolor.colorize import Colorizer
    from nogancolor.predict import colorize_images, find_model, is_video, plan, still_to_do
    from nogancolor.video import colorize_video

    model = model or find_model()
    if model is None:
        fail("no trained model under runs/: train one (`nogancolor train nogan`, `train unet` or `train dcgan`) or pass --model")
    colorizer = Colorizer.from_checkpoint(model, device=device, render_size=render_size)
    pairs = plan(source, output, compare)
    if not pairs:
        fail(f"{source}: no images or videos in this folder")
    todo = pairs if overwrite or not Path(source).is_dir() else still_to_do(pairs)
    progress = sys.stderr.isatty()
    images = [(src, dst) for src, dst in todo if not is_video(src)]
    failures = colorize_images(colorizer, images, compare=compare, batch_size=batch_size, progress=progress)
    for src, dst in todo:
        if is_video(src):
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                n = colorize_video(colorizer, src, dst, smooth=smooth, batch_size=batch_size, progress=progress)
                typer.echo(f"{src}: {n} frames -> {dst}", err=True)
            except (ValueError, OSError) as e:
                failures.append(str(e))
    if len(pairs) == 1 and failures:
        fail(failures[0])
    done, skipped = len(todo) - len(failures), len(pairs) - len(todo)
    target = output or (pairs[0][1] if len(pairs) == 1 else pairs[0][1].parent)
    psnr = colorizer.config.get("metrics", {}).get("val_psnr")
    about = f"{colorizer.name}" + (f", val PSNR {psnr:.2f} dB" if psnr else "") + f", render size {colorizer.render_size}"
    counts = f" ({skipped} skipped: already done, --overwrite redoes them)" if skipped else ""
    typer.echo(f"colorized {done} of {len(pairs)}{counts} with {model} ({about}) -> {target}")
    if failures:
        for line in failures:
            typer.secho(f"  failed: {line}", fg=typer.colors.RED, err=True)
        fail(f"{len(failures)} of {len(pairs)} inputs failed (listed above)")


@app.command("serve")
@user_errors
def serve(
    model: Annotated[Optional[list[Path]], typer.Option(help="An exported model.safetensors; repeat for several "
                                                             "(default: the best NoGAN, U-Net and DCGAN under runs/).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps the page on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web page.")] = 8000,
    max_upload_mb: Annotated[float, typer.Option(min=0.1, help="Uploads above this size are refused.")] = 20.0,
    workers: Annotated[int, typer.Option(min=1, help="Images colorized at the same time (threads beside the web "
                                                     "server, which keeps answering).")] = 1,
    queue: Annotated[int, typer.Option(min=1, help="Colorize requests admitted at once (uploading, waiting or "
                                                   "running); more get 503 with Retry-After.")] = 8,
    render_size: Annotated[Optional[int], typer.Option(min=32, help="Working resolution (see `predict`).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda ... (default: cuda if available).")] = None,
):
    """Open a web page where you drop an image and see it colorized by each loaded model, side by
    side with the gray input, with download links."""
    from nogancolor.serve import best_per_method, check_pool
    from nogancolor.serve import serve as run

    check_pool(workers, queue)
    paths = model or best_per_method()
    if not paths:
        fail("no trained model under runs/: train one (`nogancolor train nogan`, `train unet` or `train dcgan`) or pass --model")
    typer.echo(f"serving {len(paths)} model(s) on http://{host}:{port}/ (Ctrl-C stops)")
    run(paths, host=host, port=port, max_upload_mb=max_upload_mb, device=device, render_size=render_size,
        workers=workers, queue=queue)


def report(config: dict | None, out: Path, name: str = "exported"):
    if config is None:  # not the first of several training processes: that one reports
        return
    m = config["metrics"]
    typer.echo(f"{name}: val ab MSE {m['val_ab_mse']:.5f}, val PSNR {m['val_psnr']:.2f} dB "
               f"(gray output: {m['val_ab_mse_gray_output']:.5f}, {m['val_psnr_gray_output']:.2f} dB) -> {out / 'model.safetensors'}")


if __name__ == "__main__":
    app()
