"""The conditional DCGAN on fastai's GANLearner: a generator of ab from L, a (gray, colour) critic.

fastai's GANTrainer calls the critic with the colour image alone, and in critic mode swaps xb
and yb so the gray input sits in yb. `FeedGrayToCritic` hands the batch's gray input to the
critic before every batch, so the stock GANLearner, switchers and callbacks train a conditional
discriminator D(colour | gray).
"""

from functools import partial

import torch
from fastai.callback.core import Callback
from fastai.learner import Recorder
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
    """The DCGAN's two cost functions for fastai's GANLoss. Each call keeps its parts in `parts`
    and, while `recording`, adds them to running sums for per-epoch training means."""

    PARTS = ("g_adversarial", "g_l1", "d_real", "d_fake", "d_accuracy")

    def __init__(self, l1_weight: float = 100.0, real_label: float = 0.9):
        self.l1_weight, self.real_label = l1_weight, real_label
        self.parts, self.recording = {}, False
        self.reset()

    def reset(self):
        self.sums, self.counts = dict.fromkeys(self.PARTS, 0.0), dict.fromkeys(self.PARTS, 0)

    def means(self) -> list[float | None]:
        return [self.sums[k] / self.counts[k] if self.counts[k] else None for k in self.PARTS]

    def _keep(self, **parts):
        self.parts.update(parts)
        if self.recording:
            for k, v in parts.items():
                self.sums[k] += v
                self.counts[k] += 1

    def generator(self, fake_logits, output, target):
        total, adversarial, l1 = generator_loss(fake_logits, output, target, self.l1_weight)
        self._keep(g_adversarial=adversarial.item(), g_l1=l1.item())
        return total

    def critic(self, real_logits, fake_logits):
        total, on_real, on_fake = discriminator_loss(real_logits, fake_logits, self.real_label)
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        self._keep(d_real=on_real.item(), d_fake=on_fake.item(),
                   d_accuracy=correct.item() / (len(real_logits) + len(fake_logits)))
        return total


class LogGANParts(Callback):
    """Adds the training-step means of the loss parts as columns of fastai's Recorder, so the
    progress table and history.csv show them beside the validation metrics."""

    order = Recorder.order + 1  # after Recorder sets its columns and logs validation metrics

    def __init__(self, loss: DCGANLoss):
        self.loss = loss

    def before_fit(self):
        self.loss.reset()  # validate() runs no training: its parts stay empty
        names = self.recorder.metric_names
        if "time" in names and "g_adversarial" not in names:
            self.recorder.metric_names = names[:-1] + list(DCGANLoss.PARTS) + names[-1:]

    def before_train(self):
        self.loss.reset()
        self.loss.recording = True

    def after_train(self):
        self.loss.recording = False

    def after_validate(self):
        self.recorder.log += self.loss.means()


def dcgan_learner(dls, generator: nn.Module, discriminator: nn.Module, l1_weight: float = 100.0,
                  real_label: float = 0.9, d_steps: int = 1, beta1: float = 0.5, switch_eval: bool = False, cbs=(),
                  **kwargs) -> GANLearner:
    """GANLearner with Adam(beta1=0.5), `d_steps` discriminator steps per generator step, and
    RGB PSNR of the generator's output on validation.

    Both networks stay in train mode while training (`switch_eval=False`), as in DCGAN and
    pix2pix. fastai's default puts the network being judged in eval mode: the discriminator
    then scores fakes with batch-norm running statistics during generator steps, which weakened
    the adversarial term to the point of an L1 regressor; it also validated the generator in
    train mode. Validation runs in eval mode either way (fastai's TrainEvalCallback).
    `benchmarks/gan_critic_mode.py` measures both settings."""
    losses = DCGANLoss(l1_weight, real_label)
    adam = partial(OptimWrapper, opt=partial(torch.optim.Adam, betas=(beta1, 0.999)))
    learn = GANLearner(dls, generator, ConditionedCritic(discriminator), losses.generator, losses.critic,
                       switcher=FixedGANSwitcher(n_crit=d_steps, n_gen=1), switch_eval=switch_eval, opt_func=adam, metrics=[RGBPSNR()],
                       cbs=[FeedGrayToCritic(), LogGANParts(losses), *cbs], **kwargs)
    learn.dcgan_loss = losses
    return learn
