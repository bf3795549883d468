import numpy as np
import pytest
import torch
from skimage.color import rgb2hsv

from nogancolor.data import load_split, mean_hue, prepare_dataset, split_indices


@pytest.fixture(scope="module")
def images():
    torch.manual_seed(0)
    # hues spread over the wheel: a colour per image plus noise
    hue_rgb = torch.rand(1000, 3, 1, 1)
    return (hue_rgb * 255 * 0.8 + torch.rand(1000, 3, 8, 8) * 50).clamp(0, 255).to(torch.uint8)


def test_mean_hue_matches_scikit_image(images):
    expected = [rgb2hsv(img.permute(1, 2, 0).numpy())[..., 0].mean() for img in images[:50]]
    assert np.allclose(mean_hue(images[:50]).numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("kind", ["random", "hue"])
def test_split_sizes_are_disjoint_and_cover(images, kind):
    train, val = split_indices(images, kind, val_fraction=0.1, seed=0)
    assert len(val) == 100 and len(train) == 900
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(1000))
    assert torch.equal(train, train.sort().values)


@pytest.mark.parametrize("kind", ["random", "hue"])
def test_splits_are_reproducible(images, kind):
    a = split_indices(images, kind, seed=3)
    b = split_indices(images, kind, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_random_split_depends_on_seed(images):
    assert not torch.equal(split_indices(images, "random", seed=0)[1], split_indices(images, "random", seed=1)[1])


def test_hue_split_takes_every_tenth_image_in_hue_order(images):
    hue = mean_hue(images)
    _, val = split_indices(images, "hue", val_fraction=0.1)
    order = torch.argsort(hue, stable=True)
    assert torch.equal(val.sort().values, order[5::10].sort().values)


def test_hue_split_balances_hue_better_than_random(images):
    hue = mean_hue(images)

    def worst_quantile_gap(kind, seed):
        train, val = split_indices(images, kind, seed=seed)
        q = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
        return (hue[train].quantile(q) - hue[val].quantile(q)).abs().max().item()

    hue_gap = worst_quantile_gap("hue", 0)
    random_gaps = [worst_quantile_gap("random", s) for s in range(5)]
    assert hue_gap < 0.01
    assert hue_gap < min(random_gaps)


def test_bad_options_are_rejected(images):
    with pytest.raises(ValueError, match="unknown split"):
        split_indices(images, "stratified")
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(images, "random", val_fraction=1.5)


def test_prepared_split_files_are_byte_identical_across_runs(image_folder, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    prepare_dataset(image_folder, a, progress=False)
    prepare_dataset(image_folder, b, progress=False)
    for kind in ("random", "hue"):
        assert (a / "splits" / f"{kind}.json").read_bytes() == (b / "splits" / f"{kind}.json").read_bytes()
        train, val, options = load_split(a / "splits" / f"{kind}.json")
        assert options["kind"] == kind and options["val_fraction"] == 0.1
        assert len(train) + len(val) == 40 and len(val) == 4


def test_changing_the_seed_rewrites_only_the_random_split(image_folder, tmp_path):
    prepare_dataset(image_folder, tmp_path, seed=0, progress=False)
    before = {k: (tmp_path / "splits" / f"{k}.json").read_bytes() for k in ("random", "hue")}
    prepare_dataset(image_folder, tmp_path, seed=1, progress=False)
    assert (tmp_path / "splits" / "hue.json").read_bytes() == before["hue"]
    assert (tmp_path / "splits" / "random.json").read_bytes() != before["random"]
