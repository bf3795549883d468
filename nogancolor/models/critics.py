"""Discriminators that judge colourizations."""

import torch
from fastai.vision.gan import gan_critic
from torch import nn


class PairDiscriminator(nn.Module):
    """The conditional DCGAN's discriminator: D(colour | gray), one logit per image.

    The gray input and a colour candidate (ab, or RGB with `color_channels=3`) are concatenated
    along channels, then strided 4x4 convolutions halve the size `n_down` times with batch norm
    (not on the first layer) and LeakyReLU(0.2); a last 4x4 convolution gives logits, averaged
    over positions when the input is larger than 32x32.
    """

    def __init__(self, gray_channels: int = 1, color_channels: int = 2, base: int = 64, n_down: int = 3):
        super().__init__()
        layers, c_in = [], gray_channels + color_channels
        for i in range(n_down):
            c_out = base * 2**i
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 1, 4))
        self.body = nn.Sequential(*layers)

    def forward(self, gray: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([gray, color], dim=1)).flatten(1).mean(1)


class PairCritic(nn.Module):
    """NoGAN's critic: fastai's `gan_critic` (spectral-norm convolutions, a dense residual block,
    self-attention, dropout, as DeOldify's critic) on the gray input and a colour candidate
    concatenated along channels; one logit per image. `n_blocks=2` reduces 32x32 to one
    position; larger inputs give a map whose logits are averaged."""

    def __init__(self, gray_channels: int = 1, color_channels: int = 2, nf: int = 64, n_blocks: int = 2, p: float = 0.15):
        super().__init__()
        self.body = gan_critic(n_channels=gray_channels + color_channels, nf=nf, n_blocks=n_blocks, p=p)

    def forward(self, gray: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([gray, color], dim=1)).flatten(1).mean(1)
