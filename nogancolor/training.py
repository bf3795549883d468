"""One training run of a pixel-loss generator: data, model, Learner, resume, export.

A run directory holds run.json (the options), checkpoints/ (best, last + its epoch), history.csv,
val_grid.png and, when finished, model.safetensors + model.json for predict/evaluate.
"""

import json
from contextlib import nullcontext
from pathlib import Path

from fastai.torch_core import num_distrib, set_seed

from .callbacks import ContinueFromEpoch, SaveLastCallback, write_json
from .data import colorization_dls, load_prepared
from .export import export_generator
from .learner import CHECKPOINT_DIR, colorization_learner, resolve_precision
from .metrics import gray_baseline
from .models import SMALL_ARCH, build_generator


class RunError(RuntimeError):
    """A run directory in a state the requested action cannot use; the message says what to do."""


def train_unet(
    data: Path,
    out: Path,
    split: str = "hue",
    arch: str = SMALL_ARCH,
    epochs: int = 20,
    lr: float = 2e-3,
    bs: int = 64,
    base: int = 64,
    pretrained: bool = False,
    precision: str = "auto",
    n_train: int | None = None,
    n_val: int | None = None,
    seed: int = 0,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    device=None,
) -> dict:
    """Train the small U-Net (`arch="unet"`) or a DynamicUnet on ab MSE; -> the exported config."""
    out = Path(out)
    options = dict(data=str(data), split=split, arch=arch, epochs=epochs, lr=lr, bs=bs, base=base, pretrained=pretrained,
                   precision=precision, n_train=n_train, n_val=n_val, seed=seed)
    state_file = SaveLastCallback.state_path(out / CHECKPOINT_DIR)
    start_epoch, state = 0, None
    if resume:
        if not state_file.exists():
            raise RunError(f"{out} has no finished epoch to resume from; start it over with --force")
        options = json.loads((out / "run.json").read_text())
        state = json.loads(state_file.read_text())
        start_epoch = state["epoch"] + 1
    elif (out / "run.json").exists() and not force:  # also a run still in its first epoch
        raise RunError(f"{out} already holds a run; continue it with --resume or start over with --force")
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        for stale in [out / "history.csv", *(out / CHECKPOINT_DIR).glob("*")]:
            stale.unlink(missing_ok=True)
        write_json(out / "run.json", options)

    set_seed(options["seed"], reproducible=True)
    dls = colorization_dls(options["data"], options["split"], bs=options["bs"], n_train=options["n_train"],
                           n_val=options["n_val"], device=device)
    img_size = tuple(dls.one_batch()[0].shape[-2:])
    arch_kwargs = {"base": options["base"]} if options["arch"] == SMALL_ARCH else {}
    model = build_generator(options["arch"], img_size=img_size, pretrained=options["pretrained"], **arch_kwargs)
    learn = colorization_learner(dls, model, out, precision=options["precision"])
    if state is not None:
        learn.load("last", with_opt=True)
        learn.save_model.best = state["best"]
    if start_epoch < options["epochs"]:
        distributed = nullcontext()
        if num_distrib() > 1:  # started by `accelerate launch`: wrap the model in DDP for the fit
            import fastai.distributed  # noqa: F401  (adds Learner.distrib_ctx)

            distributed = learn.distrib_ctx()
        with distributed, (nullcontext() if progress else learn.no_bar()):
            learn.fit_one_cycle(options["epochs"] - start_epoch, options["lr"],
                                cbs=ContinueFromEpoch(start_epoch, options["epochs"]))
    learn.load("best", with_opt=False)
    with learn.removed_cbs(learn.history_csv_logger), learn.no_bar():
        valid_loss, val_psnr = learn.validate()
    gray = gray_baseline(dls.valid)
    _, _, meta = load_prepared(options["data"])
    config = export_generator(
        learn.model, out / "model.safetensors", arch=options["arch"], img_size=img_size, arch_kwargs=arch_kwargs,
        method="unet", split=options["split"], epochs=options["epochs"], seed=options["seed"],
        precision=resolve_precision(options["precision"], dls.device), dataset=meta["source"],
        metrics={"val_ab_mse": float(valid_loss), "val_psnr": float(val_psnr),
                 "val_ab_mse_gray_output": gray["ab_mse"], "val_psnr_gray_output": gray["psnr"]},
    )
    return json.loads(config.with_suffix(".json").read_text())
