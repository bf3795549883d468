"""The `nogancolor` command line: a thin Typer layer over the nogancolor library."""

import functools
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.options import config_options

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)

# Every default is declared once, in the method's config; the options below read it from there.
from nogancolor.apps.colorize import IMAGES_PER_CALL
from nogancolor.data import DATASETS, DEFAULT_DATA_DIR
from nogancolor.evaluation.evaluate import EVAL_BATCH
from nogancolor.methods.classifier import ClassifierConfig
from nogancolor.methods.dcgan import DCGANConfig
from nogancolor.methods.nogan import NoGANConfig
from nogancolor.methods.unet import UNetConfig
from nogancolor.models.classifier import DEFAULT_CLASSIFIER

app = typer.Typer(
    help="Colorize grayscale images with fastai: U-Net, conditional DCGAN and NoGAN on CIFAR-10.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Get a dataset ready for training: CIFAR-10, photos (Imagenette, Tiny-ImageNet) or your "
                                "own folder of photos.", no_args_is_help=True)
train_app = typer.Typer(help="Train a colorization model; each run writes checkpoints, history.csv and val_grid.png.",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


Dataset = Enum("Dataset", {name: name for name in DATASETS}, type=str)


class Split(str, Enum):
    hue = "hue"
    random = "random"


# Options several commands share (a config's own options come from its fields: cli/options.py).
DataOpt = Annotated[Path, typer.Option(help="Prepared dataset (see `nogancolor data prepare`).")]
BatchOpt = Annotated[int, typer.Option(min=2, help="Batch size.")]
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
        from nogancolor.files import CheckpointError
        from nogancolor.train.run import OutOfTime, RunError

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
        help="Local dataset: a folder with train/ and test/ (or val/) of class folders, or a .tar.gz of one. Without "
             "it, --dataset is downloaded with fastai's untar_data.")] = None,
    dataset: Annotated[Dataset, typer.Option(help="What to download without --path: cifar10 (PNG, lossless) or "
                                                  "imagenette (fast.ai's 10-class ImageNet subset, 160 px) or "
                                                  "tinyimagenet (200 ImageNet classes at 64 px).")] = Dataset.cifar10,
    out: Annotated[Optional[Path], typer.Option(help="Where the prepared dataset (arrays, splits, meta.json) goes "
                                                     "(default: data/<the dataset's name>).")] = None,
    size: Annotated[int, typer.Option(help="Working size, a multiple of 32; other sizes are resized and centre-cropped "
                                           "(aspect kept).")] = 32,
    gray_tol: Annotated[int, typer.Option(help="An image is gray when its channels differ by at most this many "
                                               "uint8 levels everywhere (2: see nogancolor.data.gray).")] = 2,
    val_fraction: Annotated[float, typer.Option(help="Share of colour train images held out for validation.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the random split (the hue split needs none).")] = 0,
    force: Annotated[bool, typer.Option(help="Replace a folder prepared from another dataset.")] = False,
):
    """Decode the images once, drop gray ones, and write the random and hue-stratified splits."""
    from nogancolor.data import DATA_ROOT, dataset_name, prepare_dataset

    source = path or dataset.value
    out = out or DATA_ROOT / dataset_name(source)
    meta = prepare_dataset(source, out, size=size, gray_tol=gray_tol, val_fraction=val_fraction, seed=seed,
                           progress=sys.stderr.isatty(), force=force)
    typer.echo(f"source: {meta['source']}")
    for subset, info in meta["subsets"].items():
        how = "decoded" if info["decoded"] else "unchanged, cache reused"
        typer.echo(f"{subset}: {info['n_files']} images, {info['n_gray']} gray dropped, {info['n_color']} kept ({how})")
    for kind, info in meta["splits"].items():
        typer.echo(f"split {kind}: {info['n_train']} train / {info['n_val']} val -> {out / info['file']}")
    typer.echo(f"prepared dataset: {out}")


OutOpt = Annotated[Optional[Path], typer.Option(help="Run directory (default: runs/<method>-<split>).")]


@train_app.command("unet")
@user_errors
@config_options(UNetConfig)
def train_unet(config: UNetConfig, out: OutOpt = None, resume: ResumeOpt = False, force: ForceOpt = False,
               compile: CompileOpt = False):
    """Train a U-Net on pixel MSE of ab (Adam, one-cycle) and export it as safetensors + JSON."""
    from nogancolor.methods.unet import train_unet as run

    name = "unet" if config.arch == "unet" else f"unet-{config.arch}"
    out = out or Path("runs") / f"{name}-{config.split}"
    report(run(config, out, resume=resume, force=force, compile=compile), out)


@train_app.command("dcgan")
@user_errors
@config_options(DCGANConfig)
def train_dcgan(config: DCGANConfig, out: OutOpt = None, resume: ResumeOpt = False, force: ForceOpt = False,
                compile: CompileOpt = False):
    """Train the conditional DCGAN baseline: U-Net generator vs a (gray, colour) discriminator,
    adversarial loss + lambda * L1, on fastai's GANLearner. Logs G and D losses per epoch.
    The default run directory is runs/dcgan-<split> (runs/dcgan-rgb-<split> with --output rgb)."""
    from nogancolor.methods.dcgan import train_dcgan as run

    out = out or Path("runs") / ("dcgan-" + ("rgb-" if config.output == "rgb" else "") + config.split)
    report(run(config, out, resume=resume, force=force, compile=compile), out)


@train_app.command("classifier")
@user_errors
@config_options(ClassifierConfig)
def train_classifier(config: ClassifierConfig,
                     out: Annotated[Path, typer.Option(help="Run directory.")] = DEFAULT_CLASSIFIER.parent,
                     resume: ResumeOpt = False, force: ForceOpt = False):
    """Train the CIFAR-10 classifier NoGAN's feature loss and the metrics use (RGB, train images
    outside both validation splits), or with --gray an encoder for DynamicUnet generators, and
    report its accuracy on the official test set."""
    from nogancolor.methods.classifier import train_classifier as run

    record = run(config, out, resume=resume, force=force)
    typer.echo(f"exported: test accuracy {record['test_accuracy']:.4f} on {record['n_test']} test images "
               f"(trained on {record['n_train']}) -> {out / 'model.safetensors'}")


@train_app.command("nogan")
@user_errors
@config_options(NoGANConfig)
def train_nogan(config: NoGANConfig,
                stage: Annotated[Optional[int], typer.Option(min=1, max=3, help="Run only this stage (1 generator, "
                                                             "2 critic, 3 joint GAN); earlier ones must be done.")] = None,
                out: OutOpt = None,
                force: Annotated[bool, typer.Option(help="Redo stages that are done (all, or --stage).")] = False,
                compile: CompileOpt = False):
    """Train NoGAN (DeOldify's schedule): 1) the U-Net on a feature loss, 2) a critic as a binary
    classifier of real vs generated colours, 3) a short joint GAN phase. Done stages are skipped
    and an interrupted one resumes; the final generator is <out>/model.safetensors."""
    from nogancolor.methods.nogan import train_nogan as run

    out = out or Path("runs") / f"nogan-{config.split}"
    results = run(config, out, stage=stage, force=force, compile=compile, log=typer.echo)
    if 1 in results:
        report(results[1].record, out / "1-generator", "pretrained generator")
    if 2 in results and results[2].record is not None:  # None in all but the first of several processes
        m = results[2].record["metrics"]
        typer.echo(f"critic: val accuracy {m['val_accuracy']:.4f} on real vs generated pairs, val loss {m['val_loss']:.4f}")
    if 3 in results:
        report(results[3].record, out, "NoGAN")


class Profile(str, Enum):
    quick = "quick"
    full = "full"
    photo = "photo"
    photo_full = "photo-full"


@app.command("compare")
@user_errors
def compare(
    data: DataOpt = DEFAULT_DATA_DIR,
    profile: Annotated[Profile, typer.Option(help="CIFAR-10 (data prepared at 32 px): quick, a subset and few epochs "
                                                  "(under 15 min on a 2-core CPU); full, all images, tens of epochs "
                                                  "(hours on CPU). Photos: photo (prepared at 64 px, under an hour on "
                                                  "a 2-core CPU); photo-full (128 px, for a GPU).")] = Profile.quick,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; several give mean ± std.")] = "0",
    out: Annotated[Optional[Path], typer.Option(help="Report folder (default: reports/<profile>).")] = None,
    runs: Annotated[Path, typer.Option(help="Where the runs go (runs/compare-<profile>/<method>-<hash of its config>/<split>-s<seed>).")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="A JSON file of configs replacing the profile's (the shape of "
                                                        "Profile.record() in nogancolor/study/compare.py; dry runs use "
                                                        "tiny ones).")] = None,
    time_budget: Annotated[Optional[float], typer.Option(min=0, help="Minutes: stop at the last epoch boundary that fits "
                                                                     "(exit code 75); the same command continues.")] = None,
    compile: CompileOpt = False,
    force: Annotated[bool, typer.Option(help="Retrain runs that already exist.")] = False,
):
    """Train U-Net, conditional DCGAN and NoGAN on both splits, evaluate them on validation and
    test, and write report.md with the metric table, comparison figures and training curves.
    Finished runs are reused; a killed or out-of-time compare resumes where it stopped."""
    import json

    from nogancolor.study.compare import PROFILES, profile_from_record
    from nogancolor.study.compare import compare as run

    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        fail(f"--seeds must be comma-separated integers, got {seeds!r}")
    try:
        chosen = profile_from_record(profile.value, json.loads(config.read_text())) if config else PROFILES[profile.value]
    except (OSError, ValueError) as e:
        fail(f"{config}: not a readable JSON profile config ({e})")
    report_dir = run(data, chosen, seeds=seed_list, out=out, runs=runs, force=force,
                     budget=None if time_budget is None else time_budget * 60, compile=compile,
                     progress=sys.stderr.isatty(), log=typer.echo, command=" ".join(["nogancolor", *sys.argv[1:]]))
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
    data: DataOpt = DEFAULT_DATA_DIR,
    split: Annotated[Optional[Split], typer.Option(help="Validation split to use (default: the model's own).")] = None,
    classifier: Annotated[Path, typer.Option(help="CIFAR-10 classifier for accuracy and the Frechet classifier "
                                                  "distance (skipped if missing).")] = DEFAULT_CLASSIFIER,
    n_images: Annotated[Optional[int], typer.Option(min=1, help="Evaluate an evenly spaced subset of this many images "
                                                                "(default: the whole set).")] = None,
    bs: BatchOpt = EVAL_BATCH,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda ... (default: cpu).")] = None,
):
    """Measure a trained model on a whole set: ab MSE, PSNR, SSIM, ab-error AuC, colorfulness,
    classifier accuracy on its colorizations, Frechet classifier distance. Writes
    eval-<set>.json and .csv beside the checkpoint."""
    from nogancolor.evaluation.evaluate import evaluate_checkpoint

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
    batch_size: Annotated[int, typer.Option(min=1, help="Images or frames per model call.")] = IMAGES_PER_CALL,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if available).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Folders: redo outputs that already exist (by default they are "
                                                 "skipped, so an interrupted run goes on where it stopped).")] = False,
):
    """Colorize your own photos, folders and videos with a trained model. Output images keep the
    input's size and format; colour inputs are made gray first. Outputs are written under a
    temporary name and renamed when complete; in a folder, those already there are skipped."""
    from nogancolor.apps.colorize import Colorizer
    from nogancolor.apps.predict import (
        colorize_images,
        find_model,
        is_video,
        plan,
        still_to_do,
    )
    from nogancolor.apps.video import colorize_video

    model = model or find_model() or bundled()
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
    from nogancolor.apps.serve import best_per_method, check_pool
    from nogancolor.apps.serve import serve as run

    check_pool(workers, queue)
    paths = model or best_per_method() or [bundled()]
    typer.echo(f"serving {len(paths)} model(s) on http://{host}:{port}/ (Ctrl-C stops)")
    run(paths, host=host, port=port, max_upload_mb=max_upload_mb, device=device, render_size=render_size,
        workers=workers, queue=queue)


def bundled() -> Path:
    """The photo model that ships with the package, said in one line (on stderr: outputs stay clean)."""
    from nogancolor.apps.bundled import bundled_model, describe
    from nogancolor.files import read_config

    path = bundled_model()
    typer.echo(f"no trained model under runs/: using the bundled photo model ({describe(read_config(path))})", err=True)
    return path


def report(config: dict | None, out: Path, name: str = "exported"):
    if config is None:  # not the first of several training processes: that one reports
        return
    m = config["metrics"]
    typer.echo(f"{name}: val ab MSE {m['val_ab_mse']:.5f}, val PSNR {m['val_psnr']:.2f} dB "
               f"(gray output: {m['val_ab_mse_gray_output']:.5f}, {m['val_psnr_gray_output']:.2f} dB) -> {out / 'model.safetensors'}")


if __name__ == "__main__":
    app()
