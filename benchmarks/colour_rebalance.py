"""Does class rebalancing (Zhang et al. 2016, "Colorful Image Colorization") buy colour on photos,
and at what PSNR? Trains the small U-Net on a prepared photo dataset with its pixel MSE weighted
by the rarity of each pixel's true colour; measure the export with
`benchmarks/bundle_photo_model.py` as the bundled model's card is measured.

    python benchmarks/colour_rebalance.py --data data/photos-64 --out runs/photo/unet-rebalanced \\
        [--mix 0.5] [--epochs 8] [--base 32] [--bs 32]

The weights: the training photos' ab histogram in bins of 10 (as Zhang et al.), smoothed by a
Gaussian of sigma 5, mixed with a uniform over the colours that occur by `--mix` (their lambda,
0.5), inverted, and scaled to a mean of 1 over the training pixels. A regressor then learns the
weighted mean colour of each pixel, pulled towards rare, saturated colours.
"""

import argparse
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nogancolor.color import lab_to_model, rgb_to_lab
from nogancolor.data import load_prepared, load_split
from nogancolor.data.splits import split_path
from nogancolor.methods.unet import UNetConfig, UNetMethod
from nogancolor.train.run import run_training

BINS = 22  # ab in [-110, 110] in bins of 10


def ab_bins(ab: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) ab on the model scale ([-1, 1] = +-110) -> (N, H, W) bin indices."""
    index = ((ab + 1) / 2 * BINS).long().clamp(0, BINS - 1)
    return index[:, 0] * BINS + index[:, 1]


def colour_weights(images: torch.Tensor, mix: float, sigma_bins: float = 0.5, chunk: int = 500) -> torch.Tensor:
    """(BINS * BINS,) rebalancing weights from uint8 RGB training images."""
    counts = torch.zeros(BINS * BINS, dtype=torch.float64)
    for i in range(0, len(images), chunk):
        _, ab = lab_to_model(rgb_to_lab(images[i:i + chunk].float() / 255))
        counts += torch.bincount(ab_bins(ab).flatten(), minlength=BINS * BINS).double()
    prior = counts / counts.sum()
    radius = torch.arange(-2, 3, dtype=torch.float64)
    kernel = torch.exp(-radius ** 2 / (2 * sigma_bins ** 2))
    kernel = (kernel[:, None] * kernel[None]) / kernel.sum() ** 2
    smooth = F.conv2d(prior.view(1, 1, BINS, BINS), kernel[None, None], padding=2).flatten()
    seen = counts > 0
    weights = torch.zeros_like(prior)
    weights[seen] = 1 / ((1 - mix) * smooth[seen] + mix / seen.sum())
    return (weights / (weights * prior).sum()).float()  # mean 1 over the training pixels


class RebalancedMSE(nn.Module):
    """Pixel MSE on ab, each pixel weighted by the rarity of its true colour."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", weights)

    def forward(self, pred, target):
        weights = self.weights.to(target.device)[ab_bins(target.float())]
        return (weights * (pred.float() - target.float()).pow(2).mean(1)).mean()


class RebalancedUNet(UNetMethod):
    def __init__(self, config: UNetConfig, out: Path, weights: torch.Tensor):
        super().__init__(config, out)
        self.weights = weights

    def build(self, dls):
        learn = super().build(dls)
        learn.loss_func = RebalancedMSE(self.weights)
        return learn


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mix", type=float, default=0.5, help="weight of the uniform in the prior (Zhang et al.: 0.5)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--base", type=int, default=32)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--split", default="hue")
    args = ap.parse_args()
    train_idx, _, _ = load_split(split_path(args.data, args.split))
    images, _, _ = load_prepared(args.data, "train")
    weights = colour_weights(images[train_idx], args.mix)
    print(f"weights over {int((weights > 0).sum())} colour bins: min {weights[weights > 0].min():.2f}, "
          f"max {weights.max():.1f}")
    config = replace(UNetConfig(), data=str(args.data), split=args.split, base=args.base, bs=args.bs,
                     epochs=args.epochs)
    record = run_training(RebalancedUNet(config, args.out, weights), progress=False)
    print(f"exported {args.out / 'model.safetensors'}: val PSNR {record['metrics']['val_psnr']:.2f} dB "
          f"(no colour: {record['metrics']['val_psnr_gray_output']:.2f})")


if __name__ == "__main__":
    main()
