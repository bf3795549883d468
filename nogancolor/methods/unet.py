"""The U-Net regressor: a generator of ab from L on pixel MSE, one-cycle Adam; the best epoch by
validation loss is exported."""

from dataclasses import dataclass
from pathlib import Path

from ..models import SMALL_ARCH
from ..train.learner import colorization_learner
from ..train.run import continue_run, run_training
from ..train.config import setting
from .base import ARCH_HELP, ENCODER_HELP, PRETRAINED_HELP, ColorizationConfig, ColorizationMethod, register


@dataclass(frozen=True)
class UNetConfig(ColorizationConfig):
    arch: str = setting(SMALL_ARCH, ARCH_HELP)
    base: int = setting(64, "Small U-Net: channels of the first layer.", min=1)
    pretrained: bool = setting(False, PRETRAINED_HELP)
    encoder: str | None = setting(None, ENCODER_HELP)
    epochs: int = setting(20, "Epochs of the one-cycle schedule.", min=1)
    lr: float = setting(2e-3, "Peak learning rate (find one with learn.lr_find()).")


class UNetMethod(ColorizationMethod):
    method = "unet"

    def build(self, dls):
        return colorization_learner(dls, self.generator(dls), self.out, precision=self.config.precision,
                                    compile=self.compile, split_encoder=self.encoder_is_pretrained())


def train_unet(config: UNetConfig, out: Path, resume: bool = False, force: bool = False, progress: bool = True,
               device=None, compile: bool = False) -> dict:
    """Train a U-Net run in `out`; -> model.json's record. `compile`: torch.compile the model
    (speed only, so not part of the config)."""
    return run_training(UNetMethod(config, out, compile), resume=resume, force=force, progress=progress, device=device)


@register("unet", "U-Net", UNetConfig, rank=0, preference=1)
def study_unet(config: UNetConfig, out: Path, force=False, progress=True, device=None, compile=False) -> dict:
    return continue_run(UNetMethod(config, out, compile), force=force, progress=progress, device=device)[0]
