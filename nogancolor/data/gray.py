"""Which images carry no colour at all."""

import torch

DEFAULT_GRAY_TOL = 2
"""Channels may differ by this many uint8 levels and the image still counts as gray. On the JPEG
copy of CIFAR-10 train, 616 images are exact (R=G=B), 633 are within 2 levels and 759 within 8:
the 17 extra images at 2 carry tints of at most 2/255, invisible and no colour signal to learn,
while larger tolerances start to take faintly coloured photos."""


def is_gray(images: torch.Tensor, tol: int = DEFAULT_GRAY_TOL) -> torch.Tensor:
    """uint8 (N,3,H,W) -> bool (N,): True where all three channels agree within `tol` at every pixel."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (N,3,H,W), got {tuple(images.shape)}")
    x = images.to(torch.int16)
    spread = x.amax(dim=1) - x.amin(dim=1)
    return spread.flatten(1).amax(dim=1) <= tol
