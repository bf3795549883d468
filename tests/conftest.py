"""Tiny synthetic datasets the tests build themselves (nothing is downloaded)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
# Tiny test models gain nothing from threads, and OpenMP threads spin-wait badly when another
# process (a notebook kernel, a training run) shares the cores.
torch.set_num_threads(1)

CLASSES = ("blueish", "reddish")


def colour_image(rng: np.random.Generator, cls: int, size: int = 32) -> np.ndarray:
    """A smooth random picture whose hue leans to blue or red, so colour is learnable from shape."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    phase = rng.uniform(0, 2 * np.pi, 3)
    freq = rng.uniform(1, 4, 3)
    base = 0.5 + 0.35 * np.sin(2 * np.pi * freq[:, None, None] * (xx + yy)[None] + phase[:, None, None])
    base[2 if cls == 0 else 0] += 0.3
    return (np.clip(base, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)


def make_image_folder(root: Path, n_train: int = 40, n_test: int = 10, n_gray: int = 3, seed: int = 0) -> Path:
    """root/{train,test}/<class>/NNNN.png: colour images plus `n_gray` gray ones per subset."""
    rng = np.random.default_rng(seed)
    for subset, n in (("train", n_train), ("test", n_test)):
        for i in range(n + n_gray):
            cls = i % len(CLASSES)
            img = colour_image(rng, cls)
            if i >= n:
                img = np.repeat(img.mean(2, keepdims=True).astype(np.uint8), 3, axis=2)
            folder = root / subset / CLASSES[cls]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("images") / "tinycifar")


@pytest.fixture(scope="session")
def prepared(image_folder, tmp_path_factory) -> Path:
    from nogancolor.data import prepare_dataset

    out = tmp_path_factory.mktemp("prepared") / "tiny"
    prepare_dataset(image_folder, out, progress=False)
    return out


@pytest.fixture(scope="session")
def classifier(prepared, tmp_path_factory):
    """(path, model.json) of a small colour classifier trained on the tiny set: NoGAN's feature
    network and judge in the tests."""
    from nogancolor.methods import train
    from nogancolor.methods.classifier import ClassifierConfig

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("classifier")
    config = train(ClassifierConfig(data=str(prepared), epochs=4, bs=8, base=8), out, progress=False)
    return out / "model.safetensors", config
