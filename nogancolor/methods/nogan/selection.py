"""Which checkpoint of NoGAN's joint phase to export, chosen for realism.

Colour that is plausible but not the ground truth's costs PSNR, so the best checkpoint by PSNR is
the least adversarial one by construction. DeOldify picks its joint-phase checkpoint by eye at
the "inflection point", before artefacts grow. Here the choice is a stated rule over what the
phase logs at every validation: `RealismMetrics` adds the colourfulness of the predictions and
the Frechet classifier distance (FCD) to the real images, on a fixed evenly spaced validation
subset, beside the PSNR on the whole validation set; `select_checkpoint` applies the rule and
`SaveChosenCallback` keeps the chosen checkpoint as it goes.
"""

import torch
from fastai.callback.core import Callback
from fastai.callback.tracker import TrackerCallback

from ...color import model_to_rgb
from ...evaluation.metrics import classify, colorfulness, frechet_distance
from ...train import orders
from ...train.callbacks import TrainedEpochCallback, evenly_spaced_valid
from .config import RULES

REALISM_COLUMNS = ("colorfulness", "fcd")


def select_checkpoint(rows: list[dict], rule: str = "fcd", psnr_floor: float | None = None) -> int:
    """Index of the row (one per validation: "psnr", and "fcd" for the fcd rule) to export.
    "psnr": the highest PSNR. "fcd": the lowest FCD among rows whose PSNR is at least
    `psnr_floor`; if none is, the highest PSNR (the least harm)."""
    if rule not in RULES:
        raise ValueError(f"unknown checkpoint rule {rule!r}; choose one of {', '.join(RULES)}")
    if not rows:
        raise ValueError("no validated checkpoint to choose from")
    by_psnr = max(range(len(rows)), key=lambda i: rows[i]["psnr"])
    if rule == "psnr":
        return by_psnr
    allowed = [i for i, row in enumerate(rows) if psnr_floor is None or row["psnr"] >= psnr_floor]
    return min(allowed, key=lambda i: rows[i]["fcd"]) if allowed else by_psnr


class RealismMetrics(Callback):
    """After each validation, the generator's colourfulness (Hasler & Suesstrunk) and FCD to the
    real images on `n` evenly spaced validation images, as columns of the Recorder (so the
    progress table, history.csv and trackers see them). The real images' features are computed
    once; the subset is a fixed one, so the curves move with the model only."""

    order = orders.REALISM_COLUMNS

    def __init__(self, classifier: torch.nn.Module, n: int = 1000, bs: int = 250):
        self.classifier, self.n, self.bs = classifier.eval().requires_grad_(False), n, bs

    def before_fit(self):
        names = self.recorder.metric_names
        if "time" in names and "fcd" not in names:
            self.recorder.metric_names = names[:-1] + list(REALISM_COLUMNS) + names[-1:]
        self._prepare()

    def _prepare(self):
        if hasattr(self, "gray"):
            return
        gray, ab = evenly_spaced_valid(self.dls, self.n)
        self.classifier.to(gray.device)
        real = model_to_rgb(gray, ab)
        self.gray, self.real, self.truth = gray, self._features(real), float(colorfulness(real).mean())

    def measure_truth(self) -> float:
        """The colourfulness of the subset's real images, the mark the predictions' is read against."""
        self._prepare()
        return self.truth

    @torch.no_grad()
    def _features(self, rgb: torch.Tensor):
        return torch.cat([classify(self.classifier, rgb[i:i + self.bs].float())[1]
                          for i in range(0, len(rgb), self.bs)]).cpu().double().numpy()

    @torch.no_grad()
    def measure(self, generator: torch.nn.Module) -> tuple[float, float]:
        was_training = generator.training
        generator.eval()
        rgb = torch.cat([model_to_rgb(self.gray[i:i + self.bs], generator(self.gray[i:i + self.bs]).float())
                         for i in range(0, len(self.gray), self.bs)])
        generator.train(was_training)
        return float(colorfulness(rgb).mean()), frechet_distance(self.real, self._features(rgb))

    def after_validate(self):
        if "fcd" in self.recorder.metric_names:  # not in learn.validate() outside a fit
            self.recorder.log += list(self.measure(getattr(self.model, "generator", self.model)))


class SaveChosenCallback(TrainedEpochCallback):
    """Keep as `best` the checkpoint `select_checkpoint` chooses among the validations so far:
    the rule depends only on earlier rows, so choosing as the phase goes equals choosing at the
    end. `best` holds those rows, so `--resume` continues the choice (SaveLastCallback records
    it, run_training restores it)."""

    name = "save_model"  # what run_training and SaveLastCallback look the best-checkpoint keeper up by
    order = TrackerCallback.order

    def __init__(self, rule: str = "fcd", psnr_floor: float | None = None, fname: str = "best"):
        select_checkpoint([{"psnr": 0.0, "fcd": 0.0}], rule, psnr_floor)  # an unknown rule fails here, not after an epoch
        self.rule, self.psnr_floor, self.fname, self.best = rule, psnr_floor, fname, []

    def after_epoch(self):
        if not self.trained:
            return
        names = self.recorder.metric_names[1:]
        values = self.recorder.values[-1]
        self.best.append({k: float(values[names.index(k)]) for k in ("psnr", *REALISM_COLUMNS) if k in names})
        if select_checkpoint(self.best, self.rule, self.psnr_floor) == len(self.best) - 1:
            self.learn.save(self.fname)
