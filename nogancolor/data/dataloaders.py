"""fastai DataLoaders of (L, ab) built with a DataBlock over a prepared dataset.

Items are indices into the uint8 image array; both x and y fetch the same RGB image, and one batch
transform converts the whole batch to Lab (on the batch's device, CPU or GPU) and splits it into
the model's input L and target ab. `decodes` turns (L, ab) back into pictures, so `show_batch`
and `show_results` work as for any fastai image task.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
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


class RandomFlip(ItemTransform):
    """Training batches only (`split_idx` 0: fastai applies it in the training DataLoader alone):
    each image flipped left-right by its own draw, the same way in every element of the batch,
    on the batch's device."""

    order, split_idx = -1, 0

    def encodes(self, batch):
        flip = torch.rand(len(batch[0]), 1, 1, 1, device=batch[0].device) < 0.5
        return tuple(torch.where(flip, x.flip(3), x) for x in batch)


class RGBToLAB(ItemTransform):
    """(rgb, rgb) uint8 batch -> (L, ab) scaled to [-1, 1]; decodes back to (gray, colour) images.
    With `size`, the images are first resized to size x size on the batch's device (antialiased:
    the progressive sizes of a run over one prepared array)."""

    order = 0

    def __init__(self, size: int | None = None):
        super().__init__()
        self.size = size

    def encodes(self, batch):
        rgb = batch[0].float() / 255
        if self.size and rgb.shape[-1] != self.size:
            rgb = F.interpolate(rgb, size=(self.size, self.size), mode="bilinear", antialias=True,
                                align_corners=False).clamp(0, 1)
        l_norm, ab_norm = lab_to_model(rgb_to_lab(rgb))
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
    size: int | None = None,
    augment: bool = False,
    **kwargs,
):
    """DataLoaders of (L, ab) for a prepared dataset and one of its saved splits.

    `n_train`/`n_val` take evenly spaced subsets (quick runs, tests); `size`: see RGBToLAB;
    `augment`: random left-right flips of the training images (RandomFlip). Batches are gathered on the DataLoaders' device (a GPU when there is one) by
    `GatherDL`, with no worker processes.
    """
    if size is not None and (size < 32 or size % 32):
        raise DatasetError(f"size {size} is not a multiple of 32 (the generators halve it five times)")
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
        batch_tfms=[*([RandomFlip()] if augment else []), RGBToLAB(size)],
        dl_type=GatherDL,
    )
    return block.dataloaders(items, bs=bs, device=device, sources=(images, images), **kwargs)
