"""Validation metrics computed on the picture a user sees: input L joined with the predicted ab."""

import torch
from fastai.learner import Metric

from .color import model_to_rgb


def psnr(pred_rgb: torch.Tensor, targ_rgb: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (N,3,H,W) images in [0,1]; identical images give 100 dB."""
    mse = (pred_rgb.float() - targ_rgb.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


class RGBPSNR(Metric):
    """Mean per-image PSNR (dB) between RGB(L, predicted ab) and RGB(L, true ab)."""

    def reset(self):
        self.total, self.count = 0.0, 0

    def accumulate(self, learn):
        l_norm = learn.xb[0]
        values = psnr(model_to_rgb(l_norm, learn.pred), model_to_rgb(l_norm, learn.yb[0]))
        self.total += values.sum().item()
        self.count += len(values)

    @property
    def value(self):
        return self.total / self.count if self.count else None

    @property
    def name(self):
        return "psnr"
