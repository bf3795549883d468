"""The `nogancolor` command line: a thin Typer layer over the nogancolor library.

It imports only configs at the top (no torch, no fastai), so `--help` and a mistyped path answer
at once; each command imports what it runs. The `train` commands are made from the method
registry: a method registered in nogancolor/methods/ gets its own `train <name>` here.
"""

import functools
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.options import config_options
from nogancolor.apps.config import PredictConfig, ServeConfig
from nogancolor.data.config import PrepareConfig
from nogancolor.data.download import DATASETS
from nogancolor.data.layout import DATA_ROOT, DEFAULT_DATA_DIR
from nogancolor.evaluation.config import EvaluateConfig
from nogancolor.methods import REGISTRY
from nogancolor.study.profiles import PROFILES

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)

app = typer.Typer(
    help="Colorize grayscale photos with fastai: U-Net, conditional DCGAN and DeOldify's NoGAN, trained and compared "
         "on CIFAR-10 and on real photos (Imagenette, Tiny-ImageNet, your own). `nogancolor predict photo.jpg` works "
         "at once with the bundled photo model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain Click help: docstrings reflowed, no <bool>/<int range> labels
)
data_app = typer.Typer(help="Get a dataset ready for training: CIFAR-10, photos (Imagenette, Tiny-ImageNet) or your "
                            "own folder of photos.", no_args_is_help=True)
train_app = typer.Typer(help="Train a colorization model (or the project's classifier); each run writes checkpoints, "
                             "history.csv and val_grid.png, and exports model.safetensors + model.json.",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")

Dataset = Enum("Dataset", {name: name for name in DATASETS}, type=str)
Profile = Enum("Profile", {name.replace("-", "_"): name for name in PROFILES}, type=str)

ResumeOpt = Annotated[bool, typer.Option(help="Continue the run in --out from its last finished epoch.", metavar="")]
ForceOpt = Annotated[bool, typer.Option(help="Start over, replacing a run already in --out.", metavar="")]
CompileOpt = Annotated[bool, typer.Option(help="torch.compile the generator: a slow first epoch, then possibly faster "
                                               "steps (measure: benchmarks/train_speed.py --compile); speed only.",
                                          metavar="")]

OUT_OF_TIME = 75  # EX_TEMPFAIL: stopped by --time-budget; the same command continues


def fail(message: str, code: int = 1):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn the library's user-fixable errors and Ctrl-C into one line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from nogancolor.data.errors import DatasetError
        from nogancolor.files import CheckpointError
        from nogancolor.train.errors import OutOfTime, RunError

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
@config_options(PrepareConfig)
def data_prepare(
    config: PrepareConfig,
    path: Annotated[Optional[Path], typer.Option(
        envvar="NOGANCOLOR_DATA",
        help="Local dataset: a folder with train/ and test/ (or val/) of class folders, or a .tar.gz of one. Without "
             "it, --dataset is downloaded.")] = None,
    dataset: Annotated[Dataset, typer.Option(help="What to download without --path: cifar10 (PNG, lossless), "
                                                  "imagenette (fast.ai's 10-class ImageNet subset, 160 px) or "
                                                  "tinyimagenet (200 ImageNet classes at 64 px).")] = Dataset.cifar10,
    out: Annotated[Optional[Path], typer.Option(help="Where the prepared dataset (arrays, splits, meta.json) goes "
                                                     f"(default: {DATA_ROOT}/<the dataset's name>).")] = None,
    force: Annotated[bool, typer.Option(help="Replace a folder prepared from another dataset.", metavar="")] = False,
):
    """Decode the images once, drop gray ones, and write the random and hue-stratified splits."""
    from nogancolor.data.download import dataset_name
    from nogancolor.data.prepare import prepare_dataset

    source = path or dataset.value
    out = out or DATA_ROOT / dataset_name(source)
    meta = prepare_dataset(source, out, size=config.size, gray_tol=config.gray_tol, val_fraction=config.val_fraction,
                           seed=config.seed, progress=sys.stderr.isatty(), force=force)
    typer.echo(f"source: {meta['source']}")
    for subset, info in meta["subsets"].items():
        how = "decoded" if info["decoded"] else "unchanged, cache reused"
        typer.echo(f"{subset}: {info['n_files']} images, {info['n_gray']} gray dropped, {info['n_color']} kept ({how})")
    for kind, info in meta["splits"].items():
        typer.echo(f"split {kind}: {info['n_train']} train / {info['n_val']} val -> {out / info['file']}")
    typer.echo(f"prepared dataset: {out}")


def train_command(registered):
    """`train <name>` for a registered method: one option per config field, --out (default:
    runs/<its run name>), --resume or, for a staged method (which continues by itself), --stage,
    and --force, --compile."""
    method = registered.method
    OutOpt = Annotated[Optional[Path], typer.Option(help="Run directory (default: runs/<method>-<split>).")]

    def run(config, out, resume=False, stage=None, force=False, compile=False):
        if stage is not None and not 1 <= stage <= len(method.stages):
            fail(f"--stage {stage} is out of range: {registered.name} has stages 1 to {len(method.stages)}")
        out = out or Path("runs") / method.run_name(config)
        record = registered.train(config, out, resume=resume, force=force, progress=True, compile=compile,
                                  stage=stage, log=typer.echo)
        if record is not None:  # None for a stage before the last (it logged itself), or not the first process
            typer.echo(f"{registered.label}: {method.summary(record)} -> {Path(out) / 'model.safetensors'}")

    if method.stages:
        StageOpt = Annotated[Optional[int], typer.Option(help="Run only this stage (" + ", ".join(
            f"{i} {name}" for i, name in enumerate(method.stages, 1)) + "); earlier ones must be done.")]

        def command(config, out: OutOpt = None, stage: StageOpt = None, force: ForceOpt = False,
                    compile: CompileOpt = False):
            run(config, out, stage=stage, force=force, compile=compile)
    else:
        def command(config, out: OutOpt = None, resume: ResumeOpt = False, force: ForceOpt = False,
                    compile: CompileOpt = False):
            run(config, out, resume=resume, force=force, compile=compile)

    command.__doc__ = method.__doc__
    train_app.command(registered.name)(user_errors(config_options(registered.config)(command)))


for _registered in REGISTRY.values():
    train_command(_registered)


@app.command("compare")
@user_errors
def compare(
    data: Annotated[Path, typer.Option(help="Prepared dataset (see `nogancolor data prepare`).")] = DEFAULT_DATA_DIR,
    profile: Annotated[Profile, typer.Option(help="CIFAR-10 (data prepared at 32 px): quick, a subset and few epochs "
                                                  "(about 24 min a seed on a 2-core CPU); full, all images, tens of epochs "
                                                  "(hours on CPU). Photos: photo (prepared at 64 px, about an hour a "
                                                  "seed on a 2-core CPU); photo-full (128 px, for a GPU); photo-pretrained "
                                                  "(64 px, every generator the same ImageNet-pretrained DynamicUnet)."
                                                  )] = Profile.quick,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; several give mean ± std.")] = "0",
    out: Annotated[Optional[Path], typer.Option(help="Report folder (default: reports/<profile>).")] = None,
    runs: Annotated[Path, typer.Option(help="Where the runs go (runs/compare-<profile>/<method>-<hash of its config>/<split>-s<seed>).")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="A JSON file of configs replacing the profile's (the shape of "
                                                        "Profile.record() in nogancolor/study/profiles.py; dry runs use "
                                                        "tiny ones).")] = None,
    time_budget: Annotated[Optional[float], typer.Option(help="Minutes: stop at the last epoch boundary that fits "
                                                              "(exit code 75); the same command continues.")] = None,
    compile: CompileOpt = False,
    force: Annotated[bool, typer.Option(help="Retrain runs that already exist.", metavar="")] = False,
):
    """Train every compared method on both splits, evaluate them on validation and test, and
    write report.md with the metric table, comparison figures and training curves. Finished
    runs are reused; a killed or out-of-time compare resumes where it stopped."""
    import json

    from nogancolor.study.compare import compare as run
    from nogancolor.study.profiles import profile_from_record

    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        fail(f"--seeds must be comma-separated integers, got {seeds!r}")
    if time_budget is not None and time_budget < 0:
        fail(f"--time-budget {time_budget} is out of range: [at least 0]")
    try:
        chosen = profile_from_record(profile.value, json.loads(config.read_text())) if config else PROFILES[profile.value]
    except (OSError, ValueError) as e:
        fail(f"{config}: not a readable JSON profile config ({e})")
    report_dir = run(data, chosen, seeds=seed_list, out=out, runs=runs, force=force,
                     budget=None if time_budget is None else time_budget * 60, compile=compile,
                     progress=sys.stderr.isatty(), log=typer.echo, command=" ".join(["nogancolor", *sys.argv[1:]]))
    typer.echo(f"report: {report_dir / 'report.md'}")


@app.command("evaluate")
@user_errors
@config_options(EvaluateConfig)
def evaluate(config: EvaluateConfig,
             checkpoint: Annotated[Path, typer.Argument(help="An exported model.safetensors (any method).")]):
    """Measure a trained model on a whole set: ab MSE, PSNR, SSIM, ab-error AuC, colorfulness,
    classifier accuracy on its colorizations, Frechet classifier distance. Writes
    eval-<set>.json and .csv beside the checkpoint."""
    from nogancolor.evaluation.evaluate import evaluate_checkpoint

    c = config
    record = evaluate_checkpoint(checkpoint, Path(c.data), c.set, c.split, Path(c.classifier), bs=c.bs, device=c.device,
                                 progress=sys.stderr.isatty(), n_images=c.n_images)
    for key, value in record.items():
        typer.echo(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    typer.echo(f"-> {Path(checkpoint).parent / ('eval-' + c.set)}.json, .csv")


@app.command("predict")
@user_errors
@config_options(PredictConfig)
def predict(
    config: PredictConfig,
    source: Annotated[Path, typer.Argument(help="An image, a video (.mp4, .mov, .avi, .mkv, .webm) or a folder of them "
                                                "(searched recursively).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file, or folder for a folder input "
                                                   "(default: <name>_color beside the input, or <folder>_color "
                                                   "beside the folder).")] = None,
):
    """Colorize your own photos, folders and videos: with no trained model under runs/, the photo
    model bundled with nogancolor. Output images keep the input's size and format; colour
    inputs are made gray first. Outputs are written under a temporary name and renamed when
    complete; in a folder, those already there are skipped."""
    from nogancolor.apps.predict import predict as run

    done = run(source, output, config, progress=sys.stderr.isatty(), log=lambda m: typer.echo(m, err=True))
    counts = f" ({done.skipped} skipped: already done, --overwrite redoes them)" if done.skipped else ""
    typer.echo(f"colorized {done.done} of {done.n_inputs}{counts} with {done.about} -> {done.target}")
    if done.failures:
        for line in done.failures:
            typer.secho(f"  failed: {line}", fg=typer.colors.RED, err=True)
        fail(f"{len(done.failures)} of {done.n_inputs} inputs failed (listed above)")


@app.command("serve")
@user_errors
@config_options(ServeConfig)
def serve(
    config: ServeConfig,
    model: Annotated[Optional[list[Path]], typer.Option(help="An exported model.safetensors; repeat for several "
                                                             "(default: the best NoGAN, U-Net and DCGAN under runs/, "
                                                             "else the photo model bundled with nogancolor).")] = None,
):
    """Open a web page where you drop an image and see it colorized by each loaded model, side by
    side with the gray input, with download links."""
    from nogancolor.apps.bundled import bundled_model
    from nogancolor.apps.serve import best_per_method, check_pool
    from nogancolor.apps.serve import serve as run

    c = config
    check_pool(c.workers, c.queue)
    paths = model or best_per_method() or [bundled_model()]
    typer.echo(f"serving {len(paths)} model(s) on http://{c.host}:{c.port}/ (Ctrl-C stops)")
    run(paths, host=c.host, port=c.port, max_upload_mb=c.max_upload_mb, device=c.device, render_size=c.render_size,
        workers=c.workers, queue=c.queue)


if __name__ == "__main__":
    app()
