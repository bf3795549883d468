"""The ab histogram of a split's training images, on the square grid Zhang et al.'s colour
classes use (models/bins.py): counted once per prepared dataset, split and bin size, and stored
beside the split (splits/<split>-ab-counts-<bin size>.json), so every run on it reads the same
prior. The record names the split file's digest: a dataset prepared again is counted again."""

import hashlib
import json
import math
from pathlib import Path

import torch

from ..color import AB_SCALE, rgb_to_lab
from ..files import write_json
from .prepare import CHUNK, load_prepared
from .splits import load_split, split_path


def grid_axis(bin_size: float) -> torch.Tensor:
    """Centres along a (or b) of the bins of side `bin_size` that tile [-AB_SCALE, AB_SCALE]."""
    if not bin_size > 0:
        raise ValueError(f"the ab bin size must be positive, got {bin_size}")
    n = math.ceil(2 * AB_SCALE / bin_size)
    return -AB_SCALE + (torch.arange(n, dtype=torch.float64) + 0.5) * bin_size


def bin_index(ab: torch.Tensor, bin_size: float) -> torch.Tensor:
    """ab in CIE units (N,2,H,W) -> the flat a-major grid cell of every pixel (N,H,W)."""
    n = len(grid_axis(bin_size))
    cell = ((ab + AB_SCALE) / bin_size).floor().long().clamp(0, n - 1)
    return cell[:, 0] * n + cell[:, 1]


def count_ab(images: torch.Tensor, idx: torch.Tensor, bin_size: float) -> torch.Tensor:
    """The images at `idx` of uint8 RGB (N,3,H,W) -> (G*G,) pixel counts per ab grid cell,
    CHUNK images at a time (`images` may be memory-mapped)."""
    counts = torch.zeros(len(grid_axis(bin_size)) ** 2, dtype=torch.long)
    for start in range(0, len(idx), CHUNK):
        lab = rgb_to_lab(images[idx[start:start + CHUNK]].float() / 255)
        counts += torch.bincount(bin_index(lab[:, 1:], bin_size).flatten(), minlength=len(counts))
    return counts


def counts_path(path: Path, split: str, bin_size: float) -> Path:
    return Path(path) / "splits" / f"{split}-ab-counts-{bin_size:g}.json"


def ab_counts(path: Path, split: str, bin_size: float = 10.0) -> torch.Tensor:
    """The training images' ab counts of a prepared dataset's split (G*G,), read from beside the
    split, or counted (about a minute for 53k photos of 64 px on 2 CPU cores) and stored."""
    split_file = split_path(path, split)
    digest = hashlib.sha256(split_file.read_bytes()).hexdigest()[:16]
    stored = counts_path(path, split, bin_size)
    try:
        record = json.loads(stored.read_text())
        if record["split_digest"] == digest and record["bin_size"] == bin_size:
            return torch.tensor(record["counts"], dtype=torch.long)
    except (OSError, ValueError, KeyError):
        pass
    images, _, _ = load_prepared(path)
    train_idx, _, _ = load_split(split_file)
    counts = count_ab(images, train_idx, bin_size)
    write_json(stored, {"bin_size": bin_size, "split_digest": digest, "counts": counts.tolist()})
    return counts
