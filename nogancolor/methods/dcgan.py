"""The conditional DCGAN baseline: the small U-Net generator (no noise) against a (gray, colour)
discriminator, adversarial loss + lambda * L1, Adam(lr, beta1) at a constant rate; the
generator after the last epoch is exported (GAN losses do not rank checkpoints)."""

from dataclasses import dataclass
from pathlib import Path

import torch.nn.functional as F
from fastai.callback.core import Callback
from fastai.vision.gan import FixedGANSwitcher, GANLearner
from torch import nn

from ..color import model_to_rgb
from ..models import SMALL_ARCH, UNet
from ..models.critics import PairDiscriminator
from ..train import orders
from ..train.gan import AdversarialLoss, gan_learner
from ..train.learner import CHECKPOINT_DIR, fused_adam, run_callbacks
from ..train.run import continue_run, run_training
from ..train.config import setting
from .base import ColorizationConfig, ColorizationMethod, register

OUTPUTS = ("ab", "rgb")


@dataclass(frozen=True)
class DCGANConfig(ColorizationConfig):
    base: int = setting(64, "Channels of the first layer of the U-Net and the discriminator.", min=1)
    l1_weight: float = setting(100.0, "lambda: weight of the L1 term in the generator's loss.")
    real_label: float = setting(0.9, "Target for real pairs (one-sided label smoothing; 1 = none).")
    d_steps: int = setting(1, "Discriminator steps per generator step.", min=1)
    beta1: float = setting(0.5, "Adam's beta1 for both networks (DCGAN: 0.5).")
    output: str = setting("ab", "ab: predict a and b, keep L exactly (like the other methods); rgb: the seed's 3-channel "
                          "RGB generator and discriminator.", choices=OUTPUTS)
    epochs: int = setting(20, "Epochs at a constant learning rate.", min=1)
    lr: float = setting(2e-4, "Adam learning rate of both networks.")

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output space {self.output!r}; choose ab or rgb")

    @property
    def arch(self) -> str:
        return SMALL_ARCH


class RGBTargets(Callback):
    """For a generator of RGB (`train dcgan --output rgb`): replace each batch's ab target by the
    true RGB image in [-1, 1], so the L1 term and the critic work in RGB."""

    order = orders.RGB_TARGETS

    def before_batch(self):
        self.learn.yb = (model_to_rgb(self.xb[0], self.yb[0]) * 2 - 1,)


def dcgan_learner(dls, generator: nn.Module, discriminator: nn.Module, config: DCGANConfig = DCGANConfig(), cbs=(),
                  **kwargs) -> GANLearner:
    """The conditional DCGAN's Learner: adversarial + `l1_weight` * L1, Adam(beta1),
    `d_steps` discriminator steps per generator step; `output="rgb"`: generator and
    discriminator work on 3-channel RGB in [-1, 1] (the seed's variant) instead of ab. Other
    keywords go to `gan_learner`.

    Both networks stay in train mode while training, as in DCGAN and pix2pix. fastai's default
    (switch_eval=True) puts the network being judged in eval mode: the discriminator then scores
    fakes with batch-norm running statistics during generator steps, which weakened the
    adversarial term to the point of an L1 regressor; it also validated the generator in train
    mode. `benchmarks/gan_critic_mode.py` measures both settings."""
    loss = AdversarialLoss(F.l1_loss, "g_l1", content_weight=config.l1_weight, real_label=config.real_label)
    if config.output == "rgb":
        cbs = [RGBTargets(), *cbs]
    return gan_learner(dls, generator, discriminator, loss, FixedGANSwitcher(n_crit=config.d_steps, n_gen=1),
                       fused_adam(betas=(config.beta1, 0.999)), cbs, **kwargs)


class DCGANMethod(ColorizationMethod):
    method = "dcgan"

    def build(self, dls):
        c = self.config
        channels = 3 if c.output == "rgb" else 2
        return dcgan_learner(dls, UNet(out_channels=channels, base=c.base), PairDiscriminator(color_channels=channels, base=c.base),
                             c, cbs=run_callbacks(self.out, best=False), path=self.out, model_dir=CHECKPOINT_DIR,
                             precision=c.precision, compile=self.compile)

    def fit(self, learn, n_epoch, cbs):
        learn.fit(n_epoch, self.config.lr, cbs=cbs)


def train_dcgan(config: DCGANConfig, out: Path, resume: bool = False, force: bool = False, progress: bool = True,
                device=None, compile: bool = False) -> dict:
    """Train a conditional DCGAN run in `out`; -> model.json's record. `output="rgb"` is exported
    behind RGBAsAB, so its colours join the input's L like every method's."""
    return run_training(DCGANMethod(config, out, compile), resume=resume, force=force, progress=progress, device=device)


@register("dcgan", "DCGAN", DCGANConfig, rank=1, preference=2)
def study_dcgan(config: DCGANConfig, out: Path, force=False, progress=True, device=None, compile=False) -> dict:
    return continue_run(DCGANMethod(config, out, compile), force=force, progress=progress, device=device)[0]
