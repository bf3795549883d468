"""Which images carry no colour at all."""

import torch

from .config import DEFAULT_GRAY_TOL


def is_gray(images: torch.Tensor, tol: int = DEFAULT_GRAY_TOL) -> torch.Tensor:
    """uint8 (N,3,H,W) -> bool (N,): True where all three channels agree within `tol` at every pixel."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (N,3,H,W), got {tuple(images.shape)}")
    x = images.to(torch.int16)
    spread = x.amax(dim=1) - x.amin(dim=1)
    return spread.flatten(1).amax(dim=1) <= tol
