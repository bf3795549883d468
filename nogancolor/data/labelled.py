"""(image, label) DataLoaders for the project's own classifier: colour training images outside
every validation split (so it leaks nothing into validation metrics), the official test set as
its validation set; RGB, or with `gray` the L channel the generators see."""

from pathlib import Path

import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.transforms import IndexSplitter
from fasttransform import ItemTransform

from ..color import lab_to_model, rgb_to_lab
from .dataloaders import ImageAt, subsample
from .errors import DatasetError
from .gather import GatherDL
from .layout import SPLIT_KINDS
from .prepare import load_prepared
from .splits import load_split, split_path


class ScaleAndAugment(ItemTransform):
    """uint8 (images, labels) batch -> float RGB in [0, 1]; on training batches also a random
    horizontal flip and a random 32x32 crop of the 4-pixel reflect-padded image (the standard
    CIFAR-10 augmentation), drawn per image."""

    order = 0

    def encodes(self, batch):
        images, *rest = batch
        x = images.float() / 255
        if self.split_idx == 0:  # fastai sets this to 0 on the training DataLoader
            x = random_flip_and_crop(x)
        return (x, *rest)


class ToModelL(ItemTransform):
    """RGB batch in [0, 1] -> the L channel as the generators see it (`--gray` classifiers)."""

    order = 1  # after ScaleAndAugment

    def encodes(self, batch):
        images, *rest = batch
        return (lab_to_model(rgb_to_lab(images))[0], *rest)


def random_flip_and_crop(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    n, _, h, w = x.shape
    x = torch.where(torch.rand(n, 1, 1, 1, device=x.device) < 0.5, x.flip(3), x)
    padded = torch.nn.functional.pad(x, (pad,) * 4, mode="reflect")
    dy, dx = (torch.randint(0, 2 * pad + 1, (2, n, 1), device=x.device))
    rows = (dy + torch.arange(h, device=x.device))[:, :, None]  # (n, h, 1)
    cols = (dx + torch.arange(w, device=x.device))[:, None, :]  # (n, 1, w)
    return padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


def classifier_dls(path: Path, bs: int = 128, n_train: int | None = None, n_test: int | None = None, device=None,
                   gray: bool = False):
    """DataLoaders of (RGB, label), or (scaled L, label) with `gray`: train = colour train images
    outside every validation split, valid = the official test set."""
    train_images, train_labels, _ = load_prepared(path, "train")
    test_images, test_labels, _ = load_prepared(path, "test")
    held_out = torch.cat([load_split(split_path(path, kind))[1] for kind in SPLIT_KINDS])
    keep = torch.ones(len(train_images), dtype=torch.bool)
    keep[held_out] = False
    train_idx = subsample(keep.nonzero().flatten(), n_train)
    test_idx = subsample(torch.arange(len(test_images)), n_test)
    if len(train_idx) < bs:
        raise DatasetError(f"only {len(train_idx)} training images, fewer than one batch of {bs}; lower the batch size")
    images = torch.cat([train_images[train_idx], test_images[test_idx]])
    labels = torch.cat([train_labels[train_idx], test_labels[test_idx]]).long()
    block = DataBlock(
        blocks=(TransformBlock, TransformBlock),
        get_x=ImageAt(images),
        get_y=ImageAt(labels),
        splitter=IndexSplitter(range(len(train_idx), len(images))),
        batch_tfms=[ScaleAndAugment(), *([ToModelL()] if gray else [])],
        dl_type=GatherDL,
    )
    return block.dataloaders(range(len(images)), bs=bs, device=device, sources=(images, labels))
