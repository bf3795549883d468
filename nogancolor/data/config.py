"""`data prepare`'s settings, each default declared once (the command line makes its options
from these fields); importable without torch."""

from dataclasses import dataclass

from ..config import setting

DEFAULT_GRAY_TOL = 2
"""Channels may differ by this many uint8 levels and the image still counts as gray. On the JPEG
copy of CIFAR-10 train, 616 images are exact (R=G=B), 633 are within 2 levels and 759 within 8:
the 17 extra images at 2 carry tints of at most 2/255, invisible and no colour signal to learn,
while larger tolerances start to take faintly coloured photos."""


@dataclass(frozen=True)
class PrepareConfig:
    size: int = setting(32, "Working size, a multiple of 32; other sizes are resized and centre-cropped (aspect kept). "
                        "32 for CIFAR-10, 64 for photos.", min=32)
    gray_tol: int = setting(DEFAULT_GRAY_TOL, "An image is gray when its channels differ by at most this many uint8 "
                            "levels everywhere (2: see nogancolor.data.config).", min=0)
    val_fraction: float = setting(0.1, "Share of colour train images held out for validation.", min=0.01, max=0.5)
    seed: int = setting(0, "Seed of the random split (the hue split needs none).")
