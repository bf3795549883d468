"""Conditional GANs on fastai's GANLearner: a generator of ab from L, a (gray, colour) critic.
The conditional DCGAN and NoGAN's joint phase both train here, with different content losses,
critics and switchers.

fastai's GANTrainer calls the critic with the colour image alone, and in critic mode swaps xb
and yb so the gray input sits in yb. The FeedGray callback hands the batch's gray input to the
critic before every batch, so the stock GANLearner, switchers and callbacks train a conditional
discriminator D(colour | gray).
"""

import torch
import torch.nn.functional as F
from fastai.callback.core import Callback
from fastai.vision.gan import GANLearner
from torch import nn

from ..models.losses import discriminator_loss, generator_loss
from . import orders
from .callbacks import FeedGray
from .distributed import summed_over_processes
from .on_device import RGBPSNR


class ConditionedCritic(nn.Module):
    """Wraps a pair discriminator as the one-argument critic fastai's GAN code expects."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator
        self.gray = None

    def forward(self, color: torch.Tensor) -> torch.Tensor:
        if self.gray is None:
            raise RuntimeError("no gray input set: train with FeedGray among the callbacks")
        return self.discriminator(self.gray, color)


class AdversarialLoss:
    """A conditional GAN's two cost functions for fastai's GANLoss:
    generator = adv_weight * adversarial + content_weight * content(output, target), critic =
    BCE on real (target `real_label`) and fake logits. Each call keeps its parts in `parts` (0-d
    tensors) and, while `recording`, adds them to running sums for per-epoch training means. All
    of it stays on the device: `means()` reads the sums once per epoch."""

    def __init__(self, content=F.l1_loss, content_name: str = "g_l1", content_weight: float = 100.0,
                 adv_weight: float = 1.0, real_label: float = 0.9, adv_balance: float | None = None):
        self.content, self.content_name = content, content_name
        self.content_weight, self.adv_weight, self.real_label = content_weight, adv_weight, real_label
        self.adv_balance = adv_balance
        self.parts_names = ("g_adversarial", content_name, "d_real", "d_fake", "d_accuracy")
        if adv_balance:
            self.parts_names += ("g_adv_weight",)
        self.parts, self.recording = {}, False
        self.reset()

    def reset(self):
        self.sums, self.counts = dict.fromkeys(self.parts_names, 0.0), dict.fromkeys(self.parts_names, 0)

    def means(self) -> list[float | None]:
        """The parts' means since `reset`, over every process's steps when training in several:
        one reduction and one host read for all parts, whichever parts had steps."""
        device = next((v.device for v in self.sums.values() if torch.is_tensor(v)), None)
        totals = torch.stack([torch.as_tensor(self.sums[k], dtype=torch.float32, device=device) for k in self.parts_names])
        counts = torch.tensor([float(self.counts[k]) for k in self.parts_names], device=device)
        totals, counts = summed_over_processes(totals, counts)
        return [total / count if count else None for total, count in zip(totals.tolist(), counts.tolist())]

    def _keep(self, **parts):
        parts = {k: v.detach().float() for k, v in parts.items()}
        self.parts.update(parts)
        if self.recording:
            for k, v in parts.items():
                self.sums[k] = self.sums[k] + v
                self.counts[k] += 1

    def generator(self, fake_logits, output, target):
        adversarial, content = generator_loss(fake_logits, output, target, self.content_weight, self.content)[1:]
        balanced = self.adv_balance and output.requires_grad
        if balanced:
            adv_grad, content_grad = self.output_gradients(adversarial, content, output)
            self.adv_weight = self.adv_balance * content_grad.norm() / adv_grad.norm().clamp_min(1e-8)
        self._keep(**{"g_adversarial": adversarial, self.content_name: content},
                   **({"g_adv_weight": torch.as_tensor(self.adv_weight, device=output.device)} if self.adv_balance else {}))
        total = self.adv_weight * adversarial + self.content_weight * content  # validation reuses the last weight
        if not balanced:
            return total
        # the value of `total`, and as gradient the weighted sum already taken at the output: the
        # backward pass goes through the generator alone, not through the critic and the feature net again
        push = (output * (self.adv_weight * adv_grad + content_grad)).sum()
        return total.detach() + push - push.detach()

    def output_gradients(self, adversarial: torch.Tensor, content: torch.Tensor, output: torch.Tensor):
        """The adversarial and the weighted content loss's gradients at the generator's output.
        `adv_balance` sets the adversarial weight each step so that the first is that many times the
        second: VQGAN's adaptive weight (Esser et al. 2021), taken at the output rather than at
        the last layer, so any generator works. It keeps the critic's voice at a set share
        however large the feature loss's scale is."""
        adv_grad = torch.autograd.grad(adversarial, output)[0]
        content_grad = torch.autograd.grad(self.content_weight * content, output)[0]
        return adv_grad, content_grad

    def critic(self, real_logits, fake_logits):
        total, on_real, on_fake = discriminator_loss(real_logits, fake_logits, self.real_label)
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        self._keep(d_real=on_real, d_fake=on_fake, d_accuracy=correct / (len(real_logits) + len(fake_logits)))
        return total


class LogGANParts(Callback):
    """Adds the training-step means of the loss parts as columns of fastai's Recorder, so the
    progress table and history.csv show them beside the validation metrics."""

    order = orders.GAN_PART_COLUMNS

    def __init__(self, loss: AdversarialLoss):
        self.loss = loss

    def before_fit(self):
        self.loss.reset()  # validate() runs no training: its parts stay empty
        names = self.recorder.metric_names
        if "time" in names and "g_adversarial" not in names:
            self.recorder.metric_names = names[:-1] + list(self.loss.parts_names) + names[-1:]

    def before_train(self):
        self.loss.reset()
        self.loss.recording = True

    def after_train(self):
        self.loss.recording = False

    def after_validate(self):
        self.recorder.log += self.loss.means()


def gan_learner(dls, generator: nn.Module, critic: nn.Module, loss: AdversarialLoss, switcher, opt_func, cbs=(),
                **kwargs) -> GANLearner:
    """GANLearner on a conditional critic D(colour | gray) with the loss parts logged per epoch
    and RGB PSNR of the generator's output on validation. Both networks stay in train mode
    while training (`switch_eval` False unless given; see methods/dcgan.py); validation runs the
    generator in eval mode (fastai's TrainEvalCallback). A content loss that is a module (a
    feature loss) gets the batch's gray input too. Other keywords go to GANLearner. -> the plain
    Learner (a run sets it up for its device: `for_device`), with `loss` as `learn.adversarial_loss`."""
    critic = ConditionedCritic(critic)
    receivers = [critic] + ([loss.content] if isinstance(loss.content, nn.Module) else [])
    kwargs.setdefault("switch_eval", False)
    learn = GANLearner(dls, generator, critic, loss.generator, loss.critic, switcher=switcher, opt_func=opt_func,
                       metrics=[RGBPSNR()], cbs=[FeedGray(*receivers), LogGANParts(loss), *cbs], **kwargs)
    learn.adversarial_loss = loss
    return learn
