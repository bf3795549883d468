"""The U-Net regressor: a generator of ab from L on pixel MSE, one-cycle Adam; the best epoch by
validation loss is exported."""

from dataclasses import dataclass, replace

from ..config import setting
from .base import PHOTO_SUBSET, PRETRAINED_SUBSET, QUICK_SUBSET, ColorizationMethod, GeneratorConfig, register


@dataclass(frozen=True)
class UNetConfig(GeneratorConfig):
    epochs: int = setting(20, "Epochs of the one-cycle schedule.", min=1)
    lr: float = setting(2e-3, "Peak learning rate (find one with learn.lr_find()).")


@register("unet", "U-Net", UNetConfig, rank=0, preference=1)
class UNetMethod(ColorizationMethod):
    """Train a U-Net on pixel MSE of ab (Adam, one-cycle) and export it as safetensors + JSON."""

    method = "unet"
    kind = "regression: one ab per pixel, on pixel MSE"
    # full: 10 epochs from its validation curves (docs/results): at batch 64 it overfit after the 8th
    # of 20 epochs; at 256 its 7th of 10 is as good (val MSE 0.01116). photo: the narrower base 32.
    profiles = {"quick": replace(UNetConfig(), epochs=3, **QUICK_SUBSET),
                "full": replace(UNetConfig(), epochs=10, bs=256, lr=4e-3),
                "photo": replace(UNetConfig(), base=32, epochs=5, **PHOTO_SUBSET),
                "photo-full": replace(UNetConfig(), epochs=10, bs=128, lr=2.8e-3),
                "photo-pretrained": replace(UNetConfig(), epochs=2, **PRETRAINED_SUBSET)}
    checkpoint_rule = ("the epoch with the lowest validation loss (on all 44,430 CIFAR-10 training images the U-Net "
                       "overfits after its 8th of 20 epochs, so the last epoch would understate the method)")

    def build(self, dls):
        from ..train.learner import colorization_learner

        return colorization_learner(dls, self.generator(dls), self.out, split_encoder=self.encoder_is_pretrained())
