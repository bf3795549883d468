"""Metrics on the picture a user sees (input L joined with the predicted ab), low enough for any
training callback to use: PSNR, the ab-error AuC, colourfulness, the Frechet distance, and a
classifier's logits and features.
"""

import warnings
from contextlib import nullcontext

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from ..color import model_to_rgb

AUC_MAX = 150


def psnr(pred_rgb: torch.Tensor, targ_rgb: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (N,3,H,W) images in [0,1]; identical images give 100 dB."""
    mse = (pred_rgb.float() - targ_rgb.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


def ab_error_auc(pred_ab: torch.Tensor, true_ab: torch.Tensor, max_threshold: int = AUC_MAX) -> float:
    """Share of pixels whose ab error (CIE units) is within t, averaged over t = 0, 1, ..., max."""
    return float(ab_error_cdf(pred_ab, true_ab, max_threshold).mean())


def ab_error_cdf(pred_ab: torch.Tensor, true_ab: torch.Tensor, max_threshold: int = AUC_MAX) -> torch.Tensor:
    """(max+1,) share of pixels with Euclidean ab error <= t, for t = 0..max (CIE units in)."""
    error = (pred_ab.float() - true_ab.float()).norm(dim=1).flatten()
    thresholds = torch.arange(max_threshold + 1, dtype=error.dtype, device=error.device)
    return (error[None, :] <= thresholds[:, None]).float().mean(1)


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Per-image colorfulness M of (N,3,H,W) RGB in [0,1], on the 0..255 scale of the paper:
    sigma_rgyb + 0.3 mu_rgyb with rg = R - G, yb = (R + G)/2 - B."""
    r, g, b = (rgb.float() * 255).unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    sigma = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False)).sqrt()
    mu = (rg.mean(1) ** 2 + yb.mean(1) ** 2).sqrt()
    return sigma + 0.3 * mu


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature rows of `a` and `b`. With no more rows
    than features a covariance is singular and the distance unreliable: warn in words (instead of
    scipy's bare "Matrix is singular")."""
    n, dims = min(len(a), len(b)), a.shape[1]
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    singular = n <= dims
    if singular:
        warnings.warn(f"Frechet distance from {n} images in a {dims}-feature space is unreliable "
                      f"(singular covariance); evaluate more than {dims} images", UserWarning, stacklevel=2)
    # catch_warnings only when needed: entering it makes Python show every warning again
    with warnings.catch_warnings() if singular else nullcontext():
        if singular:
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # the cause, said above in words
        covmean = scipy.linalg.sqrtm(cov_a @ cov_b)
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> float:
    """Kernel distance (the KID formula) between feature rows of `a` and `b`: the mean over
    `subsets` seeded random subsets of min(`subset_size`, rows) rows each of the unbiased squared
    MMD with the cubic polynomial kernel (torchmetrics' poly_mmd, as torch-fidelity's KID).
    Unbiased where the Frechet distance is not, so sets of different sizes compare."""
    from torchmetrics.image.kid import poly_mmd

    a, b = torch.from_numpy(np.asarray(a, np.float64)), torch.from_numpy(np.asarray(b, np.float64))
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"a kernel distance needs at least 2 images on each side, got {len(a)} and {len(b)}")
    rng = torch.Generator().manual_seed(seed)
    values = [poly_mmd(a[torch.randperm(len(a), generator=rng)[:size]], b[torch.randperm(len(b), generator=rng)[:size]])
              for _ in range(subsets)]
    return float(torch.stack(values).mean())


def classify(classifier, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (logits, pooled last-block features) from one pass of the classifier."""
    last = classifier.features(rgb)[-1]
    return classifier.head(last), F.adaptive_avg_pool2d(last, 1).flatten(1)


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
