import numpy as np
import pytest
import torch
from skimage import color as skcolor

from nogancolor.color import (
    AB_SCALE,
    lab_to_model,
    lab_to_rgb,
    model_to_lab,
    rgb_to_lab,
)


def to_torch(hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(hwc).permute(2, 0, 1)[None]


def test_rgb_to_lab_matches_scikit_image_on_random_colours_and_gamut_corners():
    rng = np.random.default_rng(0)
    rgb = rng.random((64, 64, 3))
    rgb[0, :8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]]
    rgb[1, :4] = [[0.04045, 0.04045, 0.04045], [0.0404, 0.0405, 0.01], [1e-4, 0, 0], [0.5, 0.5, 0.5]]
    ours = rgb_to_lab(to_torch(rgb).float())[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - skcolor.rgb2lab(rgb)).max() < 1e-3


def test_rgb_to_lab_matches_scikit_image_on_a_real_image():
    from skimage import data

    rgb = data.astronaut()[::4, ::4] / 255.0
    ours = rgb_to_lab(to_torch(rgb).float())[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - skcolor.rgb2lab(rgb)).max() < 1e-3


def test_lab_to_rgb_matches_scikit_image_including_out_of_gamut_lab():
    rng = np.random.default_rng(1)
    lab = np.stack([rng.uniform(0, 100, (32, 32)), rng.uniform(-110, 110, (32, 32)), rng.uniform(-110, 110, (32, 32))], -1)
    with pytest.warns(UserWarning):  # scikit-image warns about the negative-Z colours it clips
        expected = skcolor.lab2rgb(lab)
    ours = lab_to_rgb(to_torch(lab).float())[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - expected).max() < 1e-4


def test_round_trip_and_model_scaling():
    rgb = torch.rand(4, 3, 8, 8)
    lab = rgb_to_lab(rgb)
    assert torch.allclose(lab_to_rgb(lab), rgb, atol=1e-4)
    l_norm, ab_norm = lab_to_model(lab)
    assert l_norm.min() >= -1 and l_norm.max() <= 1
    assert ab_norm.abs().max() <= 1  # AB_SCALE covers the whole sRGB gamut
    assert torch.allclose(model_to_lab(l_norm, ab_norm), lab, atol=1e-4)
    assert AB_SCALE == 110.0


def test_ab_scale_covers_the_srgb_gamut_with_little_waste():
    corners = torch.tensor([[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)], dtype=torch.float32)
    ab = rgb_to_lab(corners.view(8, 3, 1, 1))[:, 1:].abs().max()
    assert 0.9 * AB_SCALE < ab <= AB_SCALE
