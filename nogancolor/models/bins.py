"""Zhang et al.'s colour classes ("Colorful Image Colorization", 2016): ab quantised into square
bins, soft-encoded targets, class rebalancing against the training set's smoothed ab prior, and
decoding by annealed mean. Regression of ab averages a pixel's plausible colours into brown;
classifying it keeps the distribution, and the temperature T of the decoding chooses how far
towards its modes the colour goes, without retraining."""

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F
from torch import nn

from ..color import AB_SCALE
from ..config import check_temperature
from ..data.ab_prior import grid_axis


def grid_centers(bin_size: float) -> np.ndarray:
    """(G*G, 2) centres (a, b in CIE units) of the square bins of side `bin_size` tiling
    [-AB_SCALE, AB_SCALE]^2, a-major: the cells `data.ab_prior.ab_counts` counts in."""
    axis = grid_axis(bin_size).numpy()
    a, b = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], 1)


class ColourBins:
    """The Q classes of one training set: the grid's bins that hold any of its pixels (Zhang et
    al. keep the 313 in gamut; those seen in training are the same idea, measured), their
    centres, the prior smoothed by a Gaussian of `sigma` (CIE units) and the rebalancing weights
    w ~ 1 / ((1 - lam) p + lam / Q), scaled so that their mean under p is 1 (lam = 1: none)."""

    def __init__(self, counts: np.ndarray, bin_size: float, sigma: float = 5.0, lam: float = 0.5):
        counts = np.asarray(counts, dtype=np.float64)
        if counts.size != len(grid_centers(bin_size)):
            raise ValueError(f"{counts.size} counts do not fit the grid of bins of {bin_size:g}")
        if not 0 <= lam <= 1:
            raise ValueError(f"the rebalancing lambda must lie in [0, 1], got {lam}")
        self.kept = np.flatnonzero(counts.ravel() > 0)
        if len(self.kept) < 2:
            raise ValueError("the training set's ab counts hold fewer than two colour bins: nothing to classify")
        side = int(round(np.sqrt(counts.size)))
        smoothed = scipy.ndimage.gaussian_filter(counts.reshape(side, side), sigma / bin_size, mode="constant").ravel()
        prior = smoothed[self.kept] / smoothed[self.kept].sum()
        weights = 1 / ((1 - lam) * prior + lam / len(self.kept))
        self.bin_size, self.prior = bin_size, prior
        self.weights = weights / (prior * weights).sum()
        self.centers = grid_centers(bin_size)[self.kept]

    def __len__(self) -> int:
        return len(self.kept)


def soft_encode(ab_norm: torch.Tensor, centers: torch.Tensor, k: int = 5, sigma: float = 5.0):
    """Scaled ab (N,2,H,W) -> (indices, weights), each (N*H*W, k): every pixel's `k` nearest
    bin centres (CIE units, (Q, 2)) and Gaussian weights of its distance to them (sigma in CIE
    units), summing to 1; the nearest first."""
    ab = ab_norm.float().permute(0, 2, 3, 1).reshape(-1, 2) * AB_SCALE
    # |ab - c|^2 = |ab|^2 + (|c|^2 - 2 ab.c): the bracket ranks the bins in one addmm, the only
    # (pixels, Q) tensor made, and |ab|^2 is added to the k kept (the loss was 58 % of a photo step)
    closeness, idx = torch.addmm(centers.pow(2).sum(1), ab, centers.T, alpha=-2).topk(
        min(k, len(centers)), dim=1, largest=False)
    d2 = (closeness + ab.pow(2).sum(1, keepdim=True)).clamp(min=0)
    return idx, torch.softmax(-d2 / (2 * sigma**2), dim=1)


class RebalancedSoftCE(nn.Module):
    """Zhang et al.'s loss: cross-entropy of the Q logits (N,Q,H,W) against soft-encoded targets,
    each pixel weighted by the rebalancing weight of its nearest bin; the mean over pixels. At
    `stride` s > 1 the distribution is predicted at 1/s of the resolution (Zhang et al.: 4):
    logits and the truth's ab are s x s average-pooled first, as BinsAsAB decodes them."""

    def __init__(self, bins: ColourBins, k: int = 5, sigma: float = 5.0, stride: int = 1):
        super().__init__()
        self.k, self.sigma, self.stride = k, sigma, stride
        self.register_buffer("centers", torch.tensor(bins.centers, dtype=torch.float32))
        self.register_buffer("weights", torch.tensor(bins.weights, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
        centers, weights = self.centers.to(logits.device), self.weights.to(logits.device)
        if self.stride > 1:
            logits, ab_norm = F.avg_pool2d(logits.float(), self.stride), F.avg_pool2d(ab_norm.float(), self.stride)
        idx, target = soft_encode(ab_norm, centers, self.k, self.sigma)
        n, _, h, w = logits.shape
        idx, target = (t.view(n, h, w, -1).permute(0, 3, 1, 2) for t in (idx, target))  # (N,k,H,W), no copy
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, idx)  # the k bins' only: (N,Q,H,W) is never permuted
        return (-(log_p * target).sum(1) * weights[idx[:, 0]]).mean()


def annealed_mean(logits: torch.Tensor, centers: torch.Tensor, temperature: float) -> torch.Tensor:
    """Q logits (N,Q,H,W) -> scaled ab (N,2,H,W): the mean of the distribution re-normalised as
    p^(1/T). T = 1 is the distribution's mean, T -> 0 its mode (Zhang et al.: 0.38)."""
    check_temperature(temperature)
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", p, centers.to(p)) / AB_SCALE


class BinsAsAB(nn.Module):
    """A generator of Q logits seen as a generator of scaled ab, like the others: its forward
    decodes by annealed mean at `temperature` (or the one given per call); the bin centres are a
    buffer, so the exported weights carry them.

    `vividness` is the share of the training's class rebalancing the decoding keeps. Trained on
    rebalanced cross-entropy, the net learns the colour posterior times the rebalancing weights w
    (its minimiser is q(c) ~ w(c) p(c | L)), so its logits less (1 - vividness) log w decode: at
    1 as trained (Zhang et al.'s rare, vivid colours), at 0 the posterior itself, whose mean is
    the least-squares colour (safer, more PSNR), without retraining. It needs `log_weights`,
    log w per bin, which exports carry in model.json (older ones decode at 1 only).

    `stride` s > 1 decodes the logits s x s average-pooled and upsamples the ab bilinearly: the
    distribution at 1/s of the resolution, as RebalancedSoftCE trained it."""

    def __init__(self, net: nn.Module, n_bins: int, temperature: float = 0.38, log_weights: list | None = None,
                 vividness: float = 1.0, stride: int = 1):
        super().__init__()
        check_temperature(temperature)
        self.net, self.temperature, self.stride = net, temperature, stride
        self.register_buffer("centers", torch.zeros(n_bins, 2))
        # not in the weights file: model.json keeps them, so exports without them still load
        weights = torch.zeros(n_bins) if log_weights is None else torch.tensor(log_weights, dtype=torch.float32)
        self.register_buffer("log_weights", weights[None, :, None, None], persistent=False)
        self.undoable = log_weights is not None
        self.vividness = vividness

    @property
    def vividness(self) -> float:
        return self._vividness

    @vividness.setter
    def vividness(self, value: float) -> None:
        check_vividness(value, self.undoable)
        self._vividness = value

    def forward(self, l_norm: torch.Tensor, temperature: float | None = None,
                vividness: float | None = None) -> torch.Tensor:
        return self.decode(self.net(l_norm), temperature, vividness)

    def decode(self, logits: torch.Tensor, temperature: float | None = None,
               vividness: float | None = None) -> torch.Tensor:
        """Logits -> scaled ab at `temperature` and `vividness` (default: the module's own)."""
        if vividness is None:
            vividness = self.vividness
        check_vividness(vividness, self.undoable)
        size = logits.shape[-2:]
        if self.stride > 1:
            logits = F.avg_pool2d(logits.float(), self.stride)
        if vividness != 1:
            logits = logits.float() - (1 - vividness) * self.log_weights
        ab = annealed_mean(logits, self.centers, self.temperature if temperature is None else temperature)
        return ab if self.stride == 1 else F.interpolate(ab, size=size, mode="bilinear", align_corners=False)


def check_vividness(vividness: float, undoable: bool = True) -> None:
    """The share of rebalancing kept at decoding lies in [0, 1]; below 1 only where the
    rebalancing weights are known."""
    if not 0 <= vividness <= 1:
        raise ValueError(f"vividness {vividness} is not in [0, 1]; 1 decodes as trained (vivid), 0 undoes the "
                         "class rebalancing (safer colour)")
    if vividness != 1 and not undoable:
        raise ValueError("this colour-classification model was exported without its rebalancing weights, so it "
                         "decodes at vividness 1 only; export it again with this version")
