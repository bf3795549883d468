"""Train the project's own CIFAR-10 classifier (`nogancolor train classifier`); models/classifier.py loads it.

NoGAN's feature loss needs a fixed pretrained network, and ImageNet weights cannot be assumed
(offline machines), so the project trains this one on the colour training images. It never
sees a validation image of either split, so it leaks nothing into validation metrics; its
accuracy is measured on the official test set, which is its fastai validation set (the last
epoch is exported: the test set does not pick checkpoints).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.transforms import IndexSplitter
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fasttransform import ItemTransform
from torch import nn

from ..color import lab_to_model, rgb_to_lab
from ..data import DEFAULT_DATA_DIR, load_prepared, load_split, read_meta
from ..data.dataloaders import ImageAt, subsample
from ..data.errors import DatasetError
from ..data.gather import GatherDL
from ..data.splits import SPLIT_KINDS, split_path
from ..files import save_weights
from ..models.classifier import FORMAT, JUDGES, SMALL_CLASSIFIER, build_classifier
from ..train.config import config_record, setting
from ..train.learner import CHECKPOINT_DIR, PRECISION_HELP, PRECISIONS, adam, for_device, run_callbacks
from ..train.run import Method, run_training


@dataclass(frozen=True)
class ClassifierConfig:
    data: str = setting(str(DEFAULT_DATA_DIR), "Prepared dataset (see `nogancolor data prepare`).")
    arch: str = setting(SMALL_CLASSIFIER, "Colour classifiers (feature network and judge): cifarnet (small, quick) or "
                        "cifar-resnet18 (stronger; see docs/usage.md for its GPU recipe). With --gray: a torchvision/timm "
                        "name cut as a DynamicUnet encoder, for --encoder.")
    gray: bool = setting(False, "Classify the L channel the generators see, not RGB (needs --arch other than cifarnet).")
    base: int = setting(32, "cifarnet: channels of the first block (doubling per block).", min=1)
    epochs: int = setting(8, "Epochs of the one-cycle schedule.", min=1)
    lr: float = setting(3e-3, "Peak learning rate.")
    bs: int = setting(128, "Batch size.", min=2)
    n_train: int | None = setting(None, "Use only this many training images (default: all outside both validation splits).")
    n_test: int | None = setting(None, "Measure on only this many test images (default: all).")
    seed: int = setting(0, "Seed for weights and batch order.")
    precision: str = setting("auto", PRECISION_HELP, choices=PRECISIONS)

    def __post_init__(self):
        if self.arch in JUDGES and self.gray:
            raise ValueError(f"--gray trains an encoder for DynamicUnet generators: give --arch resnet18 (or another "
                             f"torchvision/timm name); the {self.arch} classifier judges colour images")
        if self.arch not in JUDGES and not self.gray:
            raise ValueError(f"colour classifiers (feature network and judge) are {' or '.join(JUDGES)}; "
                             f"--arch {self.arch} needs --gray (an encoder for DynamicUnet generators)")


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


def classifier_learner(dls, model: nn.Module, path: Path = Path("."), log: bool = True, precision: str = "auto") -> Learner:
    """Cross-entropy, Adam, accuracy; with `log`, `last` checkpoints and a CSV history in `path`."""
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=adam, metrics=[accuracy], path=Path(path),
                    model_dir=CHECKPOINT_DIR, cbs=run_callbacks(path, best=False, log=log, grid=False))
    return for_device(learn, precision)


class ClassifierMethod(Method):
    """Train a colour classifier (the feature network and judge) or, with `gray`, an encoder
    classifier of the generators' L input, and export it with its test accuracy. The last epoch
    is exported: its validation set is the test set, which must not pick checkpoints."""

    def dataloaders(self, device=None):
        c = self.config
        return classifier_dls(c.data, bs=c.bs, n_train=c.n_train, n_test=c.n_test, device=device, gray=c.gray)

    def build(self, dls):
        c = self.config
        return classifier_learner(dls, build_classifier(c.arch, c.gray, c.base), self.out, precision=c.precision)

    def export(self, learn, dls) -> dict:
        with learn.no_bar():
            _, test_accuracy = learn.validate()
        c = self.config
        record = {"format": FORMAT, "arch": c.arch, "gray": c.gray,
                  "arch_kwargs": {"base": c.base} if c.arch == SMALL_CLASSIFIER else {},
                  "epochs": c.epochs, "n_train": len(dls.train_ds), "n_test": len(dls.valid_ds),
                  "test_accuracy": float(test_accuracy), "dataset": read_meta(c.data)["source"],
                  "config": config_record(c)}
        save_weights(learn.model, self.export_path(), record)
        return record


def train_classifier(config: ClassifierConfig, out: Path, resume: bool = False, force: bool = False,
                     progress: bool = True, device=None) -> dict:
    """Train a classifier run in `out`; -> model.json's record, with test accuracy."""
    return run_training(ClassifierMethod(config, out), resume=resume, force=force, progress=progress, device=device)
