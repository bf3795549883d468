"""Train and load the project's own CIFAR-10 classifier (`nogancolor train classifier`).

NoGAN's feature loss needs a fixed pretrained network, and ImageNet weights cannot be assumed
(offline machines), so the project trains this one on the colour training images. It never
sees a validation image of either split, so it leaks nothing into validation metrics; its
accuracy is measured on the official test set, which is its fastai validation set (the last
epoch is exported: the test set does not pick checkpoints).
"""

from pathlib import Path

import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.transforms import IndexSplitter
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fasttransform import ItemTransform

from .data import load_prepared, load_split, read_meta
from .data.dataloaders import ImageAt, subsample
from .data.errors import DatasetError
from .data.gather import GatherDL
from .data.splits import SPLIT_KINDS, split_path
from .export import load_weights, read_config, save_weights
from .learner import CHECKPOINT_DIR, adam, for_device, run_callbacks
from .color import lab_to_model, rgb_to_lab
from .models.classifier import CifarNet, CifarResNet, EncoderClassifier
from .training import run_training

FORMAT = "nogancolor-classifier"
SMALL_CLASSIFIER = "cifarnet"
JUDGES = {SMALL_CLASSIFIER: CifarNet, "cifar-resnet18": CifarResNet}  # colour classifiers: feature nets and judges
DEFAULT_CLASSIFIER = Path("runs/classifier/model.safetensors")


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


def classifier_learner(dls, model: CifarNet, path: Path = Path("."), log: bool = True) -> Learner:
    """Cross-entropy, Adam, accuracy; with `log`, `last` checkpoints and a CSV history in `path`."""
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=adam, metrics=[accuracy], path=Path(path),
                    model_dir=CHECKPOINT_DIR, cbs=run_callbacks(path, best=False, log=log, grid=False))
    return for_device(learn)


def train_classifier(data: Path, out: Path, epochs: int = 8, lr: float = 3e-3, bs: int = 128, base: int = 32,
                     arch: str = SMALL_CLASSIFIER, gray: bool = False, n_train: int | None = None,
                     n_test: int | None = None, seed: int = 0, resume: bool = False, force: bool = False,
                     progress: bool = True, device=None) -> dict:
    """Train a colour classifier (the feature network and judge: `arch` "cifarnet", or
    "cifar-resnet18", the stronger one) or, with `gray`, a torchvision/timm `arch` cut as a
    DynamicUnet encoder on the generators' L input (for `--encoder`), with one-cycle Adam, and
    export it; -> its config, with test accuracy."""
    if arch in JUDGES and gray:
        raise ValueError(f"--gray trains an encoder for DynamicUnet generators: give --arch resnet18 (or another "
                         f"torchvision/timm name); the {arch} classifier judges colour images")
    if arch not in JUDGES and not gray:
        raise ValueError(f"colour classifiers (feature network and judge) are {' or '.join(JUDGES)}; "
                         f"--arch {arch} needs --gray (an encoder for DynamicUnet generators)")
    options = dict(data=str(data), epochs=epochs, lr=lr, bs=bs, base=base, arch=arch, gray=gray, n_train=n_train,
                   n_test=n_test, seed=seed)

    def make_dls(options, device):
        return classifier_dls(options["data"], bs=options["bs"], n_train=options["n_train"], n_test=options["n_test"],
                              device=device, gray=options["gray"])

    def build(dls, options):
        return classifier_learner(dls, build_classifier(options["arch"], options["gray"], options["base"]), Path(out))

    def fit(learn, n_epoch, lr, cbs):
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)

    def finish(learn, dls, options):
        with learn.no_bar():
            _, test_accuracy = learn.validate()
        config = {"format": FORMAT, "arch": options["arch"], "gray": options["gray"],
                  "arch_kwargs": {"base": options["base"]} if options["arch"] == SMALL_CLASSIFIER else {},
                  "epochs": options["epochs"], "n_train": len(dls.train_ds), "n_test": len(dls.valid_ds),
                  "test_accuracy": float(test_accuracy), "dataset": read_meta(options["data"])["source"]}
        save_weights(learn.model, learn.path / "model.safetensors", config)
        return config

    return run_training(out, options, build, fit, finish, make_dls=make_dls, resume=resume, force=force,
                        progress=progress, device=device)


def build_classifier(arch: str = SMALL_CLASSIFIER, gray: bool = False, base: int = 32):
    if gray:
        return EncoderClassifier(arch, n_in=1)
    return CifarNet(base=base) if arch == SMALL_CLASSIFIER else JUDGES[arch]()


def load_classifier(path: Path = DEFAULT_CLASSIFIER) -> tuple[CifarNet, dict]:
    """-> (classifier in eval mode, its config) from `train_classifier`'s export."""
    config = read_config(path, FORMAT)
    arch = config.get("arch", SMALL_CLASSIFIER)
    if config.get("gray"):
        raise ValueError(f"{path} is a {arch} gray-image classifier, an encoder for --encoder; the feature loss and "
                         f"the metrics need a colour classifier ({' or '.join(JUDGES)}, `train classifier`)")
    return load_weights(build_classifier(arch, **config["arch_kwargs"]), path), config
