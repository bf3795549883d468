"""Cost functions of the conditional DCGAN (Nazeri et al. 2018, pix2pix-style), on logits.

    min over G:  -E[log D(G(0|x) | x)] + lambda * ||G(0|x) - y||_1
    max over D:   E[log D(y | x)] + E[log(1 - D(G(0|x) | x))]

The discriminator's maximisation is written as the equivalent minimisation of binary cross
entropy; `binary_cross_entropy_with_logits` keeps log(sigmoid) stable for large logits. Real
targets use one-sided label smoothing (0.9 by default); fake targets stay 0. The L1 term is the
mean absolute error per pixel and channel, as in pix2pix.
"""

import torch
import torch.nn.functional as F


def generator_loss(fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, l1_weight: float = 100.0):
    """-> (total, adversarial, l1): the generator's loss and its two parts."""
    adversarial = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    l1 = F.l1_loss(fake, target)
    return adversarial + l1_weight * l1, adversarial, l1


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 0.9):
    """-> (total, on real, on fake): the discriminator's loss and its two parts."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake, real, fake
