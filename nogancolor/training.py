"""Training runs: one directory per run, resumable, ending in an exported generator.

A run directory holds run.json (the options), checkpoints/ (last + its epoch, and best where the
method keeps one), history.csv, val_grid.png and, when finished, model.safetensors + model.json
for predict/evaluate. `run_training` does this for every model; each `train_*` only says how to
build its Learner, how to fit it and what to export.
"""

import json
import time
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path

from fastai.torch_core import default_device, rank_distrib, set_seed

from .callbacks import ContinueFromEpoch, SaveLastCallback, StopBeforeDeadline, write_json
from .critics import PairDiscriminator
from .data import colorization_dls, read_meta
from .distributed import barrier, distributed_fit, is_distributed, start_processes
from .export import export_generator
from .gan import dcgan_learner
from .learner import CHECKPOINT_DIR, colorization_learner, resolve_precision, run_callbacks
from .metrics import val_metrics
from .models import SMALL_ARCH, RGBAsAB, UNet, build_generator
from .models.dynamic import load_encoder


class RunError(RuntimeError):
    """A run directory in a state the requested action cannot use; the message says what to do."""


class OutOfTime(RunError):
    """The time budget ran out: every finished epoch is checkpointed and the same call continues."""


DEADLINE: ContextVar[float | None] = ContextVar("deadline", default=None)


@contextmanager
def time_budget(seconds: float | None):
    """Inside, training stops at the first epoch boundary from which another epoch would end
    after `seconds` from now, raising OutOfTime (None: no limit)."""
    token = DEADLINE.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        DEADLINE.reset(token)


def check_time(what: str) -> None:
    """Raise OutOfTime when the budget has run out, before starting `what`."""
    deadline = DEADLINE.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise OutOfTime(f"time budget used up before {what}; finished epochs are saved, run the same command again to continue")


def open_run(out: Path, options: dict, resume: bool, force: bool):
    """-> (options, saved state or None, first epoch to train), writing nothing: a resumed run
    reads its options back from run.json; a new one may not overwrite a run without `force`."""
    state_file = SaveLastCallback.state_path(out / CHECKPOINT_DIR)
    if resume:
        if not state_file.exists():
            raise RunError(f"{out} has no finished epoch to resume from; start it over with --force")
        state = json.loads(state_file.read_text())
        return json.loads((out / "run.json").read_text()), state, state["epoch"] + 1
    if (out / "run.json").exists() and not force:  # also a run still in its first epoch
        raise RunError(f"{out} already holds a run; continue it with --resume or start over with --force")
    return options, None, 0


def start_run(out: Path, options: dict) -> None:
    """Clear what a replaced run left and write run.json, which marks the directory as a run.
    Called once data and model are built, so a start that fails leaves no run behind."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [out / "history.csv", *(out / CHECKPOINT_DIR).glob("*")]:
        stale.unlink(missing_ok=True)
    write_json(out / "run.json", options)


def colorization_loaders(options: dict, device=None):
    """The (L, ab) DataLoaders a colorization run's options ask for."""
    return colorization_dls(options["data"], options["split"], bs=options["bs"], n_train=options["n_train"],
                            n_val=options["n_val"], device=device)


def image_size(dls) -> tuple[int, int]:
    return tuple(dls.one_batch()[0].shape[-2:])


def generator_kwargs(options: dict) -> dict:
    """The constructor arguments a run's generator is rebuilt with (besides its output space)."""
    return {"base": options["base"]} if options["arch"] == SMALL_ARCH else options.get("unet_kwargs", {})


def build_run_generator(dls, options: dict):
    """A run's generator, before training: the small U-Net, or a DynamicUnet with ImageNet
    (`pretrained`) or gray-CIFAR (`encoder`, a classifier's path) weights in its encoder."""
    model = build_generator(options["arch"], img_size=image_size(dls), pretrained=options.get("pretrained", False),
                            **generator_kwargs(options))
    if options.get("encoder"):
        if options["arch"] == SMALL_ARCH:
            raise ValueError("--encoder fills a DynamicUnet's encoder: give --arch resnet18 (or the classifier's arch)")
        load_encoder(model, Path(options["encoder"]))
    return model


def export_run_generator(method: str, extra=None, dest: Path | None = None):
    """-> a `finish` for run_training that exports the generator (a GAN's, or the model itself)
    with val metrics beside the no-colour floor, to `dest` or the run's model.safetensors;
    `extra(options, learn)` adds entries to the config."""

    def finish(learn, dls, options):
        generator = getattr(learn.model, "generator", learn.model)
        output = options.get("output", "ab")
        if output == "rgb":  # exported and measured like the others: ab joined with the input's L
            generator = RGBAsAB(generator)
        model, floor = val_metrics(dls.valid, generator), val_metrics(dls.valid)
        config = export_generator(
            generator, dest or learn.path / "model.safetensors", arch=options["arch"], img_size=image_size(dls),
            arch_kwargs=generator_kwargs(options), method=method, split=options["split"], epochs=options["epochs"],
            seed=options["seed"], output=output, precision=resolve_precision(options.get("precision", "auto"), dls.device),
            dataset=read_meta(options["data"])["source"], **(extra(options, learn) if extra else {}),
            metrics={"val_ab_mse": model["ab_mse"], "val_psnr": model["psnr"],
                     "val_ab_mse_gray_output": floor["ab_mse"], "val_psnr_gray_output": floor["psnr"]},
        )
        return json.loads(config.with_suffix(".json").read_text())

    return finish


def run_training(out, options: dict, build, fit, finish, make_dls=colorization_loaders, resume=False, force=False,
                 progress=True, device=None) -> dict:
    """The run every model shares. `make_dls(options, device)` -> DataLoaders;
    `build(dls, options)` -> Learner with its path at `out`; `fit(learn, n_epoch, lr, cbs)` trains;
    `finish(learn, dls, options)` exports and returns the exported config. The best checkpoint
    is loaded before `finish` where the Learner keeps one, else the last epoch is exported."""
    out = Path(out)
    start_processes(device or default_device())  # several processes (accelerate launch): rank 0 writes the run
    options, state, start_epoch = open_run(out, options, resume, force)
    barrier()
    set_seed(options["seed"], reproducible=True)
    dls = make_dls(options, device)
    learn = build(dls, options)
    keeps_best = hasattr(learn, "save_model")
    if state is None:
        if rank_distrib() == 0:
            start_run(out, options)
        barrier()
    else:
        learn.load("last", with_opt=True)
        if keeps_best:
            learn.save_model.best = state["best"]
    if start_epoch < options["epochs"]:
        check_time(f"training {out}")
        deadline = DEADLINE.get()
        cbs = [ContinueFromEpoch(start_epoch, options["epochs"])] + ([StopBeforeDeadline(deadline)] if deadline else [])
        distributed = distributed_fit(learn) if is_distributed() else nullcontext()
        with distributed, (nullcontext() if progress else learn.no_bar()):
            try:
                fit(learn, options["epochs"] - start_epoch, options["lr"], cbs)
            except StopBeforeDeadline.Stop:
                raise OutOfTime(f"time budget reached in {out}: finished epochs are saved, run the same command again "
                                "to continue") from None
    barrier()  # every process has finished its epochs and rank 0 has saved them
    if keeps_best:
        learn.load("best", with_opt=False)
    config = finish(learn, dls, options) if rank_distrib() == 0 else None  # the other processes export nothing
    barrier()
    return config


def train_unet(data: Path, out: Path, split: str = "hue", arch: str = SMALL_ARCH, epochs: int = 20, lr: float = 2e-3,
               bs: int = 64, base: int = 64, pretrained: bool = False, encoder: Path | None = None,
               precision: str = "auto", n_train: int | None = None, n_val: int | None = None, seed: int = 0,
               resume: bool = False, force: bool = False, progress: bool = True, device=None,
               compile: bool = False) -> dict:
    """Train the small U-Net (`arch="unet"`) or a DynamicUnet (optionally with `pretrained` or
    `encoder` weights, see `build_run_generator`) on ab MSE with one-cycle Adam; -> the exported
    config. The best epoch by validation loss is exported. `compile`: torch.compile the model
    (speed only, so not among the run's options)."""
    options = dict(data=str(data), split=split, arch=arch, epochs=epochs, lr=lr, bs=bs, base=base, pretrained=pretrained,
                   encoder=str(encoder) if encoder else None, precision=precision, n_train=n_train, n_val=n_val, seed=seed)

    def build(dls, options):
        return colorization_learner(dls, build_run_generator(dls, options), Path(out), precision=options["precision"],
                                    compile=compile)

    def fit(learn, n_epoch, lr, cbs):
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)

    return run_training(out, options, build, fit, export_run_generator("unet"), resume=resume, force=force,
                        progress=progress, device=device)


def train_dcgan(data: Path, out: Path, split: str = "hue", epochs: int = 20, lr: float = 2e-4, bs: int = 64, base: int = 64,
                l1_weight: float = 100.0, real_label: float = 0.9, d_steps: int = 1, output: str = "ab",
                precision: str = "auto", n_train: int | None = None, n_val: int | None = None, seed: int = 0,
                resume: bool = False, force: bool = False, progress: bool = True, device=None, compile: bool = False) -> dict:
    """Train the conditional DCGAN: the small U-Net generator (no noise) against a (gray, colour)
    discriminator, Adam(lr, beta1 0.5) at a constant rate; -> the exported config of the
    generator after the last epoch (GAN losses do not rank checkpoints). `output="rgb"` trains
    the seed's RGB variant; it is exported behind RGBAsAB, so its colours join the input's L."""
    if output not in ("ab", "rgb"):
        raise ValueError(f"unknown output space {output!r}; choose ab or rgb")
    options = dict(data=str(data), split=split, arch=SMALL_ARCH, epochs=epochs, lr=lr, bs=bs, base=base,
                   l1_weight=l1_weight, real_label=real_label, d_steps=d_steps, output=output, precision=precision,
                   n_train=n_train, n_val=n_val, seed=seed)

    def build(dls, options):
        channels = 3 if options.get("output", "ab") == "rgb" else 2
        return dcgan_learner(dls, UNet(out_channels=channels, base=options["base"]),
                             PairDiscriminator(color_channels=channels, base=options["base"]),
                             l1_weight=options["l1_weight"], real_label=options["real_label"], d_steps=options["d_steps"],
                             output=options.get("output", "ab"), path=Path(out), model_dir=CHECKPOINT_DIR,
                             cbs=run_callbacks(Path(out), best=False), precision=options.get("precision", "auto"),
                             compile=compile)

    def fit(learn, n_epoch, lr, cbs):
        learn.fit(n_epoch, lr, cbs=cbs)

    return run_training(out, options, build, fit, export_run_generator("dcgan"), resume=resume, force=force,
                        progress=progress, device=device)
