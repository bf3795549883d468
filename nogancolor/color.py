"""sRGB <-> CIE Lab (D65) on batched torch tensors, and the scaling the models see.

Same formulas and constants as scikit-image's `rgb2lab`/`lab2rgb`, written in torch so the
conversion runs on whole batches, on CPU or GPU, inside the data pipeline.
"""

import torch

# sRGB (D65) -> XYZ, scikit-image's matrix; its inverse is computed once in float64.
_XYZ_FROM_RGB = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    dtype=torch.float64,
)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)

L_MAX = 100.0
AB_SCALE = 110.0
"""ab is divided by this to reach [-1, 1]: the sRGB gamut spans a in [-86.2, 98.2] and b in
[-107.9, 94.5], so 110 maps every displayable colour inside the tanh range with little waste."""


def _mix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix over the channel dimension of (N,3,H,W)."""
    return torch.einsum("ij,njhw->nihw", matrix.to(x), x)


def _per_channel(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.to(like).view(1, 3, 1, 1)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) sRGB in [0,1] -> Lab in CIE units (L 0..100, a/b about -128..127)."""
    linear = torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = _mix(linear, _XYZ_FROM_RGB) / _per_channel(_WHITE_D65, rgb)
    f = torch.where(xyz > 0.008856, xyz.clamp(min=0.008856) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) Lab in CIE units -> sRGB in [0,1], clipped to the gamut like scikit-image."""
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, (fy - b / 200).clamp(min=0)], dim=1)
    xyz = torch.where(f > 0.2068966, f**3, (f - 16 / 116) / 7.787) * _per_channel(_WHITE_D65, lab)
    linear = _mix(xyz, _RGB_FROM_XYZ)
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, linear * 12.92)
    return rgb.clamp(0, 1)


def lab_to_model(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab in CIE units -> (L in [-1,1], ab in about [-1,1]): the model's input and target."""
    return lab[:, :1] / (L_MAX / 2) - 1, lab[:, 1:] / AB_SCALE


def model_to_lab(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """Inverse of `lab_to_model`: scaled L and ab back to Lab in CIE units."""
    return torch.cat([(l_norm + 1) * (L_MAX / 2), ab_norm * AB_SCALE], dim=1)


def model_to_rgb(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """Scaled L (input) and ab (prediction) -> sRGB in [0,1], for metrics and pictures."""
    return lab_to_rgb(model_to_lab(l_norm.float(), ab_norm.float()))


def output_to_rgb(l_norm: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """A generator's output -> sRGB in [0,1]: scaled ab joined with the input L, or (for RGB
    generators, 3 channels in [-1, 1]) the RGB itself."""
    if output.shape[1] == 3:
        return ((output.float() + 1) / 2).clamp(0, 1)
    return model_to_rgb(l_norm, output)


def rgb_output_to_ab(output: torch.Tensor) -> torch.Tensor:
    """An RGB generator's output in [-1, 1] -> scaled ab, dropping the L it predicted."""
    return lab_to_model(rgb_to_lab(((output.float() + 1) / 2).clamp(0, 1)))[1]
