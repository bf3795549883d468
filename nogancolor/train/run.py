"""One training run: a directory, resumable, ending in an export; and the contract every method
implements for it.

A run directory holds run.json (the method's config), checkpoints/ (last + its epoch, and best
where the method keeps one), history.csv, val_grid.png and, when finished, the method's export
(model.safetensors + model.json). `run_training` does this for every method; a `Method`
(train/method.py, which starts its runs through this module) only
says how to load its data, build its Learner, fit it and export it.
"""

import json
import time
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

from fastai.torch_core import default_device, rank_distrib, set_seed

from ..files import write_json
from .callbacks import ContinueFromEpoch, SaveLastCallback, StopBeforeDeadline
from ..config import ConfigError, config_from_record, config_record
from .distributed import barrier, distributed_fit, is_distributed, start_processes
from .errors import OutOfTime, RunError
from .learner import CHECKPOINT_DIR, for_device


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


def open_run(method, resume: bool, force: bool):
    """-> (saved state or None, first epoch to train), writing nothing: a resumed run reads its
    config back from run.json into `method`; a new one may not overwrite a run without `force`."""
    out = method.out
    state_file = SaveLastCallback.state_path(out / CHECKPOINT_DIR)
    if resume:
        if not state_file.exists():
            raise RunError(f"{out} has no finished epoch to resume from; start it over with --force")
        try:
            method.config = config_from_record(type(method.config), json.loads((out / "run.json").read_text()),
                                               f"{out / 'run.json'}")
        except ConfigError as e:
            raise RunError(str(e)) from None
        state = json.loads(state_file.read_text())
        return state, state["epoch"] + 1
    if (out / "run.json").exists() and not force:  # also a run still in its first epoch
        raise RunError(f"{out} already holds a run; continue it with --resume or start over with --force")
    return None, 0


def start_run(method) -> None:
    """Clear what a replaced run left and write run.json, which marks the directory as a run.
    Called once data and model are built, so a start that fails leaves no run behind."""
    out = method.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in [out / "history.csv", *(out / CHECKPOINT_DIR).glob("*")]:
        stale.unlink(missing_ok=True)
    write_json(out / "run.json", config_record(method.config))


def run_training(method, resume: bool = False, force: bool = False, progress: bool = True,
                 device=None) -> dict | None:
    """Train `method` in its run folder and export it; -> the export's record (None in all but
    the first of several processes, which alone writes). `resume` continues from the last
    finished epoch; `force` replaces a run already there. The method's Learner is set up for
    the device here (precision, compile: `for_device`), the resolved precision kept as
    `learn.precision`. The best checkpoint is loaded before the export where the Learner keeps
    one, else the last epoch is exported."""
    start_processes(device or default_device())  # several processes (accelerate launch): rank 0 writes the run
    state, start_epoch = open_run(method, resume, force)
    barrier()
    set_seed(method.config.seed, reproducible=True)
    dls = method.dataloaders(device)
    learn = for_device(method.build(dls), method.config.precision, method.compile)  # once, for every method
    n_epoch = method.n_epochs(dls)
    keeps_best = hasattr(learn, "save_model")
    if state is None:
        if rank_distrib() == 0:
            start_run(method)
        barrier()
    else:
        learn.load("last", with_opt=True)
        if keeps_best:
            learn.save_model.best = state["best"]
    if start_epoch < n_epoch:
        check_time(f"training {method.out}")
        deadline = DEADLINE.get()
        cbs = [ContinueFromEpoch(start_epoch, n_epoch)] + ([StopBeforeDeadline(deadline)] if deadline else [])
        distributed = distributed_fit(learn) if is_distributed() else nullcontext()
        with distributed, (nullcontext() if progress else learn.no_bar()):
            try:
                method.fit(learn, n_epoch - start_epoch, cbs)
            except StopBeforeDeadline.Stop:
                raise OutOfTime(f"time budget reached in {method.out}: finished epochs are saved, run the same "
                                "command again to continue") from None
    barrier()  # every process has finished its epochs and rank 0 has saved them
    if keeps_best:
        learn.load("best", with_opt=False)
    record = method.export(learn, dls) if rank_distrib() == 0 else None  # the other processes export nothing
    barrier()
    return record


def next_step(method, force: bool = False) -> str:
    """What `continue_run` will do with `method`'s run: "skipped" (already exported), "resumed"
    (from its last finished epoch) or "trained" (from the start; always with `force`)."""
    if force:
        return "trained"
    if method.export_path().with_suffix(".json").exists():
        return "skipped"
    return "resumed" if SaveLastCallback.state_path(method.out / CHECKPOINT_DIR).exists() else "trained"


def continue_run(method, force: bool = False, progress: bool = True, device=None) -> tuple[dict | None, str]:
    """Make sure `method`'s run is finished; -> (its export's record, `next_step`'s answer)."""
    step = next_step(method, force)
    if step == "skipped":
        return json.loads(method.export_path().with_suffix(".json").read_text()), step
    record = run_training(method, resume=step == "resumed", force=step == "trained", progress=progress, device=device)
    return record, step
