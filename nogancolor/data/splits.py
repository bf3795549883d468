"""Train/validation splits over the colour train images, and their files on disk.

`random` is a seeded permutation. `hue` sorts images by mean per-pixel HSV hue and sends evenly
spaced positions of that order (every 10th for 10%) to validation, so both sides share one hue
distribution.
"""

import json
from pathlib import Path

import torch

from ..files import atomic_write
from .layout import SPLIT_KINDS



def mean_hue(images: torch.Tensor, pixels: int = 4096 * 32 * 32) -> torch.Tensor:
    """uint8 (N,3,H,W) -> float64 (N,): mean per-pixel HSV hue in [0,1), as scikit-image's rgb2hsv;
    computed over chunks of about `pixels` pixels, so memory does not grow with the dataset."""
    chunk = max(1, pixels // max(1, images[0, 0].numel() if len(images) else 1))
    out = []
    for batch in images.split(chunk):
        rgb = batch.to(torch.float64) / 255
        r, g, b = rgb.unbind(1)
        vmax, vmin = rgb.amax(1), rgb.amin(1)
        delta = vmax - vmin
        safe = torch.where(delta == 0, torch.ones_like(delta), delta)
        # scikit-image assigns red, then green, then blue, so on ties the later channel wins
        h = torch.where(vmax == b, 4 + (r - g) / safe, torch.where(vmax == g, 2 + (b - r) / safe, (g - b) / safe))
        h = torch.where(delta == 0, torch.zeros_like(h), (h / 6) % 1.0)
        out.append(h.flatten(1).mean(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def split_indices(images: torch.Tensor, kind: str = "random", val_fraction: float = 0.1, seed: int = 0):
    """-> (train_idx, val_idx): sorted, disjoint LongTensors covering all of `images`."""
    if kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split kind {kind!r}; choose one of {', '.join(SPLIT_KINDS)}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    n = len(images)
    n_val = max(1, round(n * val_fraction)) if n > 1 else 0
    if kind == "random":
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        val = order[:n_val]
    else:
        order = torch.argsort(mean_hue(images), stable=True)
        positions = ((torch.arange(n_val, dtype=torch.float64) + 0.5) * n / n_val).long()
        val = order[positions]
    is_val = torch.zeros(n, dtype=torch.bool)
    is_val[val] = True
    return torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()


def split_path(root: Path, kind: str) -> Path:
    return Path(root) / "splits" / f"{kind}.json"


def save_split(path: Path, train_idx, val_idx, **options) -> None:
    """Write a split with the options that made it; the same inputs give byte-identical files."""
    record = {"options": options, "train": train_idx.tolist(), "val": val_idx.tolist()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")


def load_split(path: Path):
    """-> (train_idx, val_idx, options) from a file written by `save_split`."""
    record = json.loads(Path(path).read_text())
    return torch.tensor(record["train"], dtype=torch.long), torch.tensor(record["val"], dtype=torch.long), record["options"]
