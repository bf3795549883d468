"""The conditional DCGAN on fastai's GANLearner: a generator of ab from L, a (gray, colour) critic.

fastai's GANTrainer calls the critic with the colour image alone, and in critic mode swaps xb
and yb so the gray input sits in yb. `FeedGrayToCritic` hands the batch's gray input to the
critic before every batch, so the stock GANLearner, switchers and callbacks train a conditional
discriminator D(colour | gray).
"""

from functools import partial

import torch
from fastai.callback.core import Callback
from fastai.optimizer import OptimWrapper
from fastai.vision.gan import FixedGANSwitcher, GANLearner, GANTrainer
from torch import nn

from .losses import discriminator_loss, generator_loss
from .metrics import RGBPSNR


class ConditionedCritic(nn.Module):
    """Wraps a pair discriminator as the one-argument critic fastai's GAN code expects."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator
        self.gray = None

    def forward(self, color: torch.Tensor) -> torch.Tensor:
        if self.gray is None:
            raise RuntimeError("no gray input set: train with FeedGrayToCritic among the callbacks")
        return self.discriminator(self.gray, color)


class FeedGrayToCritic(Callback):
    """Before each batch, give the critic the batch's gray input (yb in critic mode, xb otherwise)."""

    order = GANTrainer.order + 1  # after GANTrainer has swapped xb and yb (callbacks run by order)

    def before_batch(self):
        self.model.critic.gray = self.xb[0] if self.model.gen_mode else self.yb[0]


class DCGANLoss:
    """The DCGAN's two cost functions for fastai's GANLoss, keeping their parts for logging."""

    def __init__(self, l1_weight: float = 100.0, real_label: float = 0.9):
        self.l1_weight, self.real_label = l1_weight, real_label
        self.parts = {}

    def generator(self, fake_logits, output, target):
        total, adversarial, l1 = generator_loss(fake_logits, output, target, self.l1_weight)
        self.parts.update(g_adversarial=adversarial.item(), g_l1=l1.item())
        return total

    def critic(self, real_logits, fake_logits):
        total, on_real, on_fake = discriminator_loss(real_logits, fake_logits, self.real_label)
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        self.parts.update(d_real=on_real.item(), d_fake=on_fake.item(),
                          d_accuracy=correct.item() / (len(real_logits) + len(fake_logits)))
        return total


def dcgan_learner(dls, generator: nn.Module, discriminator: nn.Module, l1_weight: float = 100.0,
                  real_label: float = 0.9, d_steps: int = 1, beta1: float = 0.5, **kwargs) -> GANLearner:
    """GANLearner with Adam(beta1=0.5), `d_steps` discriminator steps per generator step, and
    RGB PSNR of the generator's output on validation."""
    losses = DCGANLoss(l1_weight, real_label)
    adam = partial(OptimWrapper, opt=partial(torch.optim.Adam, betas=(beta1, 0.999)))
    learn = GANLearner(dls, generator, ConditionedCritic(discriminator), losses.generator, losses.critic,
                       switcher=FixedGANSwitcher(n_crit=d_steps, n_gen=1), opt_func=adam, metrics=[RGBPSNR()],
                       cbs=[FeedGrayToCritic()], **kwargs)
    learn.dcgan_loss = losses
    return learn
