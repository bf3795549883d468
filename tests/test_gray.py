import pytest
import torch

from nogancolor.data import DEFAULT_GRAY_TOL, is_gray


def images_from(*rgb_planes):
    return torch.stack([torch.stack(p) for p in rgb_planes]).to(torch.uint8)


def test_gray_detection_on_constructed_images():
    base = torch.randint(10, 240, (8, 8))
    exact = (base, base, base)
    jitter = torch.zeros_like(base)
    jitter[3, 3] = DEFAULT_GRAY_TOL
    near = (base, base + jitter, base)
    one_pixel = base.clone()
    one_pixel[5, 2] += 40
    tinted = (base, one_pixel, base)
    sepia = (base + 12, base + 4, base)
    images = images_from(exact, near, tinted, sepia)
    assert is_gray(images).tolist() == [True, True, False, False]


def test_tolerance_is_an_option():
    base = torch.full((4, 4), 100)
    images = images_from((base, base + 5, base))
    assert not is_gray(images, tol=4).item()
    assert is_gray(images, tol=5).item()


def test_rejects_wrong_shapes():
    with pytest.raises(ValueError):
        is_gray(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
