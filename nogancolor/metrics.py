"""Validation metrics computed on the picture a user sees: input L joined with the predicted ab."""

import torch
from fastai.learner import Metric

from .color import model_to_rgb, output_to_rgb
from .on_device import DeviceMean


def psnr(pred_rgb: torch.Tensor, targ_rgb: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (N,3,H,W) images in [0,1]; identical images give 100 dB."""
    mse = (pred_rgb.float() - targ_rgb.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


class RGBPSNR(DeviceMean, Metric):
    """Mean per-image PSNR (dB) between RGB(L, predicted ab) and RGB(L, true ab); for an RGB
    generator (`train dcgan --output rgb`), between its RGB output and the true RGB. Summed on
    the device, read once per validation."""

    def reset(self):
        self.total, self.count = 0.0, 0

    def accumulate(self, learn):
        l_norm = learn.xb[0]
        values = psnr(output_to_rgb(l_norm, learn.pred), output_to_rgb(l_norm, learn.yb[0]))
        self.total = self.total + values.sum()
        self.count += len(values)

    @property
    def name(self):
        return "psnr"


def val_metrics(dl, model=None) -> dict:
    """ab MSE (scaled, the U-Net's loss) and mean RGB PSNR of `model` over a DataLoader of
    (L, ab), computed the same way for every method. `model=None` predicts no colour (ab = 0):
    the floor any colorizer must beat, high (about 24.5 dB on CIFAR-10) because L is exact."""
    mse, values = [], []
    if model is not None:
        was_training = model.training
        model.eval()
    with torch.no_grad():
        for l_norm, ab_norm in dl:
            pred = torch.zeros_like(ab_norm) if model is None else model(l_norm).float()
            mse.append((pred - ab_norm.float()).pow(2).flatten(1).mean(1))
            values.append(psnr(model_to_rgb(l_norm, pred), model_to_rgb(l_norm, ab_norm)))
    if model is not None:
        model.train(was_training)
    return {"ab_mse": torch.cat(mse).mean().item(), "psnr": torch.cat(values).mean().item()}
