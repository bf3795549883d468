"""The project's own classifier (`nogancolor train classifier`); models/classifier.py builds and
loads it.

NoGAN's feature loss needs a fixed pretrained network, and ImageNet weights cannot be assumed
(offline machines), so the project trains this one on the dataset's colour training images. It
never sees a validation image of either split, so it leaks nothing into validation metrics; its
accuracy is measured on the official test set, which is its fastai validation set (the last
epoch is exported: the test set does not pick checkpoints). It trains, but is not compared.
"""

from dataclasses import dataclass, replace

from ..data.layout import DEFAULT_DATA_DIR
from ..files import DEFAULT_CLASSIFIER
from ..models.names import JUDGE_ARCHS, SMALL_CLASSIFIER
from ..config import PRECISION_HELP, PRECISIONS, setting
from ..train.method import Method
from .base import register


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
        if self.arch in JUDGE_ARCHS and self.gray:
            raise ValueError(f"--gray trains an encoder for DynamicUnet generators: give --arch resnet18 (or another "
                             f"torchvision/timm name); the {self.arch} classifier judges colour images")
        if self.arch not in JUDGE_ARCHS and not self.gray:
            raise ValueError(f"colour classifiers (feature network and judge) are {' or '.join(JUDGE_ARCHS)}; "
                             f"--arch {self.arch} needs --gray (an encoder for DynamicUnet generators)")


@register("classifier", "classifier", ClassifierConfig, compared=False)
class ClassifierMethod(Method):
    """Train the colour classifier that NoGAN's feature loss and the metrics use (RGB, train
    images outside both validation splits), or with --gray an encoder for DynamicUnet
    generators, and report its accuracy on the official test set. The last epoch is exported:
    its validation set is the test set, which must not pick checkpoints."""

    checkpoint_rule = "its last epoch (its validation set is the test set, which must not pick checkpoints)"
    # photo: trained on the same photos, it is NoGAN's feature network and the FCD's
    profiles = {"quick": replace(ClassifierConfig(), epochs=3, n_train=10000), "full": replace(ClassifierConfig(), epochs=15),
                "photo": replace(ClassifierConfig(), epochs=4, bs=64),
                "photo-full": replace(ClassifierConfig(), epochs=15, bs=128),
                "photo-pretrained": replace(ClassifierConfig(), epochs=3, bs=64, n_train=10000)}

    @classmethod
    def run_name(cls, config) -> str:
        return DEFAULT_CLASSIFIER.parent.name

    @classmethod
    def summary(cls, record: dict) -> str:
        return f"test accuracy {record['test_accuracy']:.4f} on {record['n_test']} test images (trained on {record['n_train']})"

    def dataloaders(self, device=None):
        from ..data.labelled import classifier_dls

        c = self.config
        return classifier_dls(c.data, bs=c.bs, n_train=c.n_train, n_test=c.n_test, device=device, gray=c.gray)

    def build(self, dls):
        if self.compile:
            raise ValueError("--compile speeds up generators; the classifier trains without it")
        from ..models.classifier import build_classifier
        from ..train.learner import classifier_learner

        c = self.config
        return classifier_learner(dls, build_classifier(c.arch, c.gray, c.base, self.n_classes()), self.out)

    def n_classes(self) -> int:
        from ..data.prepare import read_meta

        return len(read_meta(self.config.data)["subsets"]["train"]["classes"])

    def export(self, learn, dls) -> dict:
        from ..data.prepare import read_meta
        from ..files import save_weights
        from ..models.classifier import FORMAT
        from ..config import config_record

        with learn.no_bar():
            _, test_accuracy = learn.validate()
        c = self.config
        record = {"format": FORMAT, "arch": c.arch, "gray": c.gray,
                  "arch_kwargs": {**({"base": c.base} if c.arch == SMALL_CLASSIFIER else {}), "n_classes": self.n_classes()},
                  "epochs": c.epochs, "n_train": len(dls.train_ds), "n_test": len(dls.valid_ds),
                  "test_accuracy": float(test_accuracy), "dataset": read_meta(c.data)["source"],
                  "config": config_record(c)}
        save_weights(learn.model, self.export_path(), record)
        return record
