"""The small U-Net of the method description (pix2pix-style encoder/decoder with skips)."""

import torch
from torch import nn


def down_block(c_in: int, c_out: int, norm: bool = True) -> nn.Sequential:
    """4x4 conv, stride 2 (halves H and W), batch norm, LeakyReLU(0.2)."""
    layers = [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2, inplace=True))


class UpBlock(nn.Module):
    """4x4 transposed conv, stride 2 (doubles H and W), concatenation with the mirrored
    activation, batch norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, c_skip: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out + c_skip)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(torch.cat([self.up(x), skip], dim=1)))


class UNet(nn.Module):
    """L (N,in,H,W) -> ab (N,out,H,W) in [-1,1]; H and W must be divisible by 2**depth.

    Contracting path: `depth` down blocks, channels base, 2*base, ... capped at 8*base (no batch
    norm on the first). Expanding path: mirrored up blocks, each joined with the activation of
    the same size, the last with the input itself. Head: 1x1 conv + tanh (with `bounded`; without,
    the 1x1 conv's logits, for a classification head).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, base: int = 64, depth: int = 5, bounded: bool = True):
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        widths = [min(base * 2**i, base * 8) for i in range(depth)]
        self.downs = nn.ModuleList(
            down_block(c_in, c_out, norm=i > 0) for i, (c_in, c_out) in enumerate(zip([in_channels, *widths], widths))
        )
        skips = [in_channels, *widths[:-1]]  # what each up block joins, deepest last
        outs = [base, *widths[:-1]]  # each up block's width, mirroring the down path
        self.ups = nn.ModuleList()
        c_in = widths[-1]
        for c_out, c_skip in reversed(list(zip(outs, skips))):
            self.ups.append(UpBlock(c_in, c_out, c_skip))
            c_in = c_out + c_skip
        self.head = nn.Sequential(nn.Conv2d(c_in, out_channels, 1), *([nn.Tanh()] if bounded else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            raise ValueError(f"input size {tuple(x.shape[-2:])} is not divisible by 2**depth = {2**self.depth}")
        activations = [x]
        for down in self.downs:
            activations.append(down(activations[-1]))
        y = activations.pop()
        for up in self.ups:
            y = up(y, activations.pop())
        return self.head(y)
