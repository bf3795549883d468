"""`evaluate`'s settings, each default declared once (the command line makes its options from
these fields); importable without torch."""

from dataclasses import dataclass

from ..data.layout import DEFAULT_DATA_DIR, SPLIT_KINDS
from ..files import DEFAULT_CLASSIFIER
from ..config import setting

EVAL_BATCH = 256  # images per model call in evaluation (memory, not results, depends on it)
EVAL_SETS = ("val", "test")


@dataclass(frozen=True)
class EvaluateConfig:
    set: str = setting("val", "val: the validation images of the model's split; test: the official test set.",
                       choices=EVAL_SETS)
    data: str = setting(str(DEFAULT_DATA_DIR), "Prepared dataset (see `nogancolor data prepare`).")
    split: str | None = setting(None, "Validation split to use (default: the model's own).", choices=SPLIT_KINDS)
    classifier: str = setting(str(DEFAULT_CLASSIFIER), "The project's classifier, for its accuracy on the "
                              "colorizations and the Frechet classifier distance (skipped if missing).")
    n_images: int | None = setting(None, "Evaluate an evenly spaced subset of this many images (default: the whole "
                                   "set).", min=1)
    bs: int = setting(EVAL_BATCH, "Images per model call.", min=1)
    device: str | None = setting(None, "cpu, cuda ... (default: cpu).")
