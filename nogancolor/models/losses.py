"""Cost functions: the conditional DCGAN's (on logits) and NoGAN's feature loss.

The conditional DCGAN (Nazeri et al. 2018, pix2pix-style):

    min over G:  -E[log D(G(0|x) | x)] + lambda * ||G(0|x) - y||_1
    max over D:   E[log D(y | x)] + E[log(1 - D(G(0|x) | x))]

The discriminator's maximisation is written as the equivalent minimisation of binary cross
entropy; `binary_cross_entropy_with_logits` keeps log(sigmoid) stable for large logits. Real
targets use one-sided label smoothing (0.9 by default); fake targets stay 0. The L1 term is the
mean absolute error per pixel and channel, as in pix2pix.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..color import model_to_rgb


def generator_loss(fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, l1_weight: float = 100.0,
                   content=F.l1_loss, adv_weight: float = 1.0):
    """-> (total, adversarial, content): adv_weight * adversarial + l1_weight * content(fake,
    target), and its two parts. The DCGAN's content is L1; NoGAN's joint phase passes its
    feature loss (and weights 1 for it)."""
    adversarial = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    content_value = content(fake, target)
    return adv_weight * adversarial + l1_weight * content_value, adversarial, content_value


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 0.9):
    """-> (total, on real, on fake): the discriminator's loss and its two parts."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake, real, fake


class FeatureLoss(nn.Module):
    """NoGAN's generator loss (DeOldify's FeatureLoss): pixel L1 on ab plus, for each feature map
    of a fixed network, weight * mean L1 between the maps of the predicted and the true colour
    image. The network sees RGB, made from the batch's gray input (`gray`, set by the
    FeedGray callback before every batch) joined with the predicted or true ab. `parts` keeps
    the last call's pixel and feature terms (0-d tensors)."""

    def __init__(self, features: nn.Module, pixel_weight: float = 1.0):
        super().__init__()
        self.features, self.pixel_weight = features, pixel_weight
        self.gray, self.parts = None, {}

    def forward(self, pred_ab: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        if self.gray is None:
            raise RuntimeError("no gray input set: train with the FeedGray callback")
        pixel = F.l1_loss(pred_ab.float(), target_ab.float())
        pred_maps = self.features(model_to_rgb(self.gray, pred_ab))
        with torch.no_grad():
            target_maps = self.features(model_to_rgb(self.gray, target_ab))
        feature = sum(w * F.l1_loss(p, t) for w, p, t in zip(self.features.layer_weights, pred_maps, target_maps))
        self.parts = {"pixel": pixel.detach(), "feature": feature.detach()}  # tensors: no host read per step
        return self.pixel_weight * pixel + feature
