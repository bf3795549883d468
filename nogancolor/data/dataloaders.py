"""fastai DataLoaders of (L, ab) built with a DataBlock over a prepared dataset.

Items are indices into the uint8 image array; both x and y fetch the same RGB image, and one batch
transform converts the whole batch to Lab (on the batch's device, CPU or GPU) and splits it into
the model's input L and target ab. `decodes` turns (L, ab) back into pictures, so `show_batch`
and `show_results` work as for any fastai image task.
"""

from pathlib import Path

import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.transforms import IndexSplitter
from fastai.torch_core import TensorImage
from fasttransform import ItemTransform

from ..color import lab_to_model, model_to_rgb, rgb_to_lab
from .errors import DatasetError
from .gather import GatherDL
from .prepare import load_prepared
from .splits import load_split, split_path


class ImageAt:
    """Item getter: image index -> uint8 (3,H,W) tensor (a class, so DataLoaders pickle)."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __call__(self, i: int) -> torch.Tensor:
        return self.images[i]


class RGBToLAB(ItemTransform):
    """(rgb, rgb) uint8 batch -> (L, ab) scaled to [-1, 1]; decodes back to (gray, colour) images."""

    order = 0

    def encodes(self, batch):
        l_norm, ab_norm = lab_to_model(rgb_to_lab(batch[0].float() / 255))
        return (l_norm, ab_norm) if len(batch) > 1 else (l_norm,)

    def decodes(self, batch):
        l_norm, *ab = batch
        gray = TensorImage(model_to_rgb(l_norm, torch.zeros_like(l_norm).expand(-1, 2, -1, -1)))
        return (gray, *(TensorImage(model_to_rgb(l_norm, a)) for a in ab))


def subsample(idx: torch.Tensor, n: int | None) -> torch.Tensor:
    """Evenly spaced `n` of `idx` (files are ordered by class, so a prefix would be one class)."""
    if n is None or n >= len(idx):
        return idx
    return idx[(torch.arange(n) * len(idx) / n).long()]


def colorization_dls(
    path: Path,
    split: str = "hue",
    bs: int = 64,
    n_train: int | None = None,
    n_val: int | None = None,
    device=None,
    **kwargs,
):
    """DataLoaders of (L, ab) for a prepared dataset and one of its saved splits.

    `n_train`/`n_val` take evenly spaced subsets (quick runs, tests). Batches are gathered on
    the DataLoaders' device (a GPU when there is one) by `GatherDL`, with no worker processes.
    """
    images, _, _ = load_prepared(path)
    train_idx, val_idx, _ = load_split(split_path(path, split))
    train_idx, val_idx = subsample(train_idx, n_train), subsample(val_idx, n_val)
    if len(train_idx) < bs:
        raise DatasetError(f"only {len(train_idx)} training images, fewer than one batch of {bs}; lower the batch size")
    items = torch.cat([train_idx, val_idx]).tolist()
    block = DataBlock(
        blocks=(TransformBlock, TransformBlock),
        get_x=ImageAt(images),
        get_y=ImageAt(images),
        splitter=IndexSplitter(range(len(train_idx), len(items))),
        batch_tfms=RGBToLAB(),
        dl_type=GatherDL,
    )
    return block.dataloaders(items, bs=bs, device=device, sources=(images, images), **kwargs)
