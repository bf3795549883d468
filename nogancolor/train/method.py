"""The contract every method implements for one training run, and how the command line and the
study start one. Importable without torch or fastai: the registry and the command line know
every method, its config and its options before any of them trains."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastai.learner import Learner


class Method:
    """What a method says about one run; `run_training` (train/run.py) does the rest (run
    folder, seed, resume, time budget, several processes, checkpoints). `config` is a frozen
    dataclass, stored as run.json and read back by a resumed run; `out` is the run folder. To
    add a method, subclass this in one file of nogancolor/methods/ and register it there
    (docs/usage.md, "Adding a method", walks through tests/toy_method.py):

    - `dataloaders(device)` -> the run's DataLoaders;
    - `build(dls)` -> its Learner, with `path` at `out`;
    - `n_epochs(dls)` -> epochs to train (default: `config.epochs`);
    - `fit(learn, n_epoch, cbs)` trains (default: one-cycle at `config.lr`);
    - `export(learn, dls)` writes the result and returns its record (model.json's contents);
    - `run_name(config)` names its default run folder under runs/, `summary(record)` says in
      one line what a run exported;
    - for the study: its config in each profile (`profiles`); for its report: `kind` (what kind
      of colorizer it is), `checkpoint_rule` (which checkpoint it exports, and why),
      `history(run)` (its training curve) and `figures(run)` (any figures of its own);
      `trains_on_classifier` when its config names the project's classifier.

    Import torch and fastai inside these methods, not at the top of the module: the command
    line imports every method's module to list it.
    """

    kind = ""  # for the report: what kind of colorizer it is, in a phrase (regression, GAN, ...)
    stages: tuple[str, ...] = ()  # a method trained in several stages names them (`train --stage`)
    checkpoint_rule = "the last epoch"  # one sentence's end for the report: which checkpoint a run exports
    trains_on_classifier = False  # its config names the project's classifier (so compare's run-folder hash covers it)
    profiles: dict = {}  # its config in each of the study's profiles that compares it, by profile name

    def __init__(self, config, out: Path, compile: bool = False):
        self.config, self.out, self.compile = config, Path(out), compile

    def dataloaders(self, device=None):
        raise NotImplementedError

    def build(self, dls) -> Learner:
        raise NotImplementedError

    def n_epochs(self, dls) -> int:
        return self.config.epochs

    def fit(self, learn: Learner, n_epoch: int, cbs: list) -> None:
        learn.fit_one_cycle(n_epoch, self.config.lr, cbs=cbs)

    def export(self, learn: Learner, dls) -> dict:
        raise NotImplementedError

    def export_path(self) -> Path:
        """Where `export` writes; the run is finished once its .json exists."""
        return self.out / "model.safetensors"

    @classmethod
    def run_name(cls, config) -> str:
        """The default run folder's name under runs/ (`train <method>` without --out)."""
        raise NotImplementedError

    @classmethod
    def summary(cls, record: dict) -> str:
        """One line about an exported run, for the command line."""
        return "exported"

    @classmethod
    def history(cls, run: Path) -> list[tuple[float, float, float]]:
        """(epoch, train loss, val PSNR) rows of a finished run, for the report's training curves."""
        return [(int(r["epoch"]) + 1, float(r["train_loss"]), float(r["psnr"])) for r in history_rows(Path(run) / "history.csv")]

    @classmethod
    def figures(cls, run: Path) -> dict[str, tuple[Path, str]]:
        """Figures of its own a finished run drew, for the report: {file stem: (path, caption)}."""
        return {}

    @classmethod
    def train(cls, config, out: Path, resume: bool = False, force: bool = False, progress: bool = True, device=None,
              compile: bool = False, stage: int | None = None, log=print) -> dict | None:
        """`train <method>`: one run in `out`, resumed only with `resume`, replaced only with
        `force`; -> model.json's record. A staged method runs `stage` alone when given."""
        from .run import run_training

        return run_training(cls(config, out, compile), resume=resume, force=force, progress=progress, device=device)

    @classmethod
    def study(cls, config, out: Path, force: bool = False, progress: bool = True, device=None,
              compile: bool = False) -> dict | None:
        """The study's run: skipped when exported, resumed when interrupted; -> the record."""
        from .run import continue_run

        return continue_run(cls(config, out, compile), force=force, progress=progress, device=device)[0]


def history_rows(path: Path) -> list[dict]:
    """A run's history.csv rows that carry a validation PSNR."""
    with open(path) as f:
        return [r for r in csv.DictReader(f) if r.get("psnr") not in ("", "None", None)]
