import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from nogancolor.color import model_to_rgb
from nogancolor.data import (
    DatasetError,
    colorization_dls,
    load_image_folder,
    load_prepared,
    prepare_dataset,
)
from nogancolor.data.download import unpack_archive


def test_prepare_drops_gray_images_and_records_them(prepared):
    images, labels, meta = load_prepared(prepared)
    train = meta["subsets"]["train"]
    assert (train["n_files"], train["n_gray"], train["n_color"]) == (43, 3, 40)
    assert len(train["gray_files"]) == 3 and all(f.endswith(".png") for f in train["gray_files"])
    assert images.shape == (40, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist().count(0) == 20
    assert meta["subsets"]["test"]["n_color"] == 10


def test_folder_loader_handles_sizes_and_modes(tmp_path):
    folder = tmp_path / "cls"
    folder.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 10)).save(folder / "big.jpg")
    Image.new("L", (32, 32), 128).save(folder / "gray.png")
    Image.new("RGBA", (32, 32), (0, 0, 255, 100)).save(folder / "alpha.png")
    Image.fromarray(np.full((40, 40), 40000, dtype=np.uint16)).save(folder / "deep.png")
    images, labels, classes, names = load_image_folder(tmp_path, size=32, progress=False)
    assert images.shape == (4, 3, 32, 32) and classes == ["cls"]
    by_name = dict(zip(names, images))
    assert by_name["cls/alpha.png"][2].float().mean() == 255
    assert by_name["cls/big.jpg"][0].float().mean() > 150
    assert torch.equal(by_name["cls/deep.png"][0], by_name["cls/deep.png"][1])
    assert abs(by_name["cls/deep.png"][0].float().mean().item() - 40000 / 256) < 1.5


def test_corrupt_image_gives_a_clear_error(tmp_path):
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "0001.png").write_text("not a png")
    with pytest.raises(DatasetError, match="could not be read.*cls/0001.png"):
        load_image_folder(tmp_path, progress=False)


def test_missing_folder_and_unprepared_dataset_are_clear(tmp_path, image_folder):
    with pytest.raises(DatasetError, match="no train/ folder"):
        prepare_dataset(tmp_path / "nothing", tmp_path / "out", progress=False)
    with pytest.raises(DatasetError, match="nogancolor data prepare --path"):
        load_prepared(image_folder)


def test_second_prepare_reuses_the_decoded_cache_until_a_file_changes(image_folder, tmp_path, monkeypatch):
    import nogancolor.data.prepare as prepare

    prepare_dataset(image_folder, tmp_path, progress=False)
    calls = []
    real = prepare.load_image_folder
    monkeypatch.setattr(prepare, "load_image_folder", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    meta = prepare_dataset(image_folder, tmp_path, progress=False)
    assert calls == [] and not meta["subsets"]["train"]["decoded"]
    assert meta["subsets"]["train"]["file_types"] == ["png"]  # also known without decoding
    victim = next((image_folder / "test").rglob("*.png"))
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    meta = prepare_dataset(image_folder, tmp_path, progress=False)
    assert [p.name for p in calls] == ["test"] and meta["subsets"]["test"]["decoded"]


def test_prepare_from_a_tar_gz(image_folder, tmp_path):
    import tarfile

    archive = tmp_path / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(image_folder, arcname="tinycifar")
    meta = prepare_dataset(archive, tmp_path / "out", progress=False)
    assert meta["subsets"]["train"]["n_color"] == 40
    assert unpack_archive(archive, tmp_path / "out" / "source").name == "tinycifar"


@pytest.mark.parametrize("split", ["hue", "random"])
def test_dataloaders_give_scaled_l_and_ab(prepared, split):
    dls = colorization_dls(prepared, split, bs=8)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (36, 4)
    x, y = dls.one_batch()
    assert x.shape == (8, 1, 32, 32) and y.shape == (8, 2, 32, 32)
    assert x.min() >= -1 and x.max() <= 1 and y.abs().max() <= 1
    images, _, _ = load_prepared(prepared)
    rgb = model_to_rgb(x, y)
    # each decoded batch image is one of the dataset's images, to within Lab round-trip error
    dist = (rgb[:, None] * 255 - images[None].float()).abs().flatten(2).amax(2)
    assert (dist.min(1).values < 1.0).all()


def test_subsets_and_decoding_for_show_batch(prepared):
    dls = colorization_dls(prepared, "hue", bs=4, n_train=12, n_val=2)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (12, 2)
    gray, colour = dls.decode_batch(dls.valid.one_batch(), max_n=2)[0]
    assert gray.shape == colour.shape == (3, 32, 32)
    assert torch.allclose(gray[0], gray[1], atol=1e-3) and not torch.allclose(colour[0], colour[2], atol=1e-2)


@pytest.mark.slow
def test_training_reads_a_memory_mapped_dataset_batch_by_batch(tmp_path):
    """A prepared array of 98 MB trains while the process's own memory (RssAnon: not the file's
    pages, which the system may drop) grows by far less: the array is memory-mapped and each
    batch reads only its rows."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import json, re
        from pathlib import Path
        import numpy as np, torch
        from nogancolor.data import colorization_dls, save_split
        from nogancolor.data.splits import split_path
        from nogancolor.models import UNet
        from nogancolor.train.learner import colorization_learner

        def anon_mb():
            return int(re.search(r"RssAnon:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024

        root, n = Path({str(tmp_path)!r}), 8000
        images = np.lib.format.open_memmap(root / "train_images.npy", "w+", np.uint8, (n, 3, 64, 64))
        rng = np.random.default_rng(0)
        for i in range(0, n, 500):
            images[i:i + 500] = rng.integers(0, 256, (500, 3, 64, 64), dtype=np.uint8)
        images.flush()
        del images
        np.save(root / "train_labels.npy", np.zeros(n, dtype=np.int64))
        (root / "meta.json").write_text(json.dumps({{"name": "big", "source": "big", "subsets": {{}}}}))
        save_split(split_path(root, "hue"), torch.arange(0, n, 2), torch.arange(1, n, 2))
        torch.set_num_threads(1)
        warm_up = colorization_dls(root, "hue", bs=100, n_train=300, n_val=100)  # libraries' own first allocations
        learn = colorization_learner(warm_up, UNet(base=2, depth=3), root, log=False, grid=False)  # fp32: a plain Learner
        with learn.no_bar(), learn.no_logging():
            learn.fit(1, 1e-3)
            before = anon_mb()
            learn.dls = colorization_dls(root, "hue", bs=100)  # all 8,000 images
            learn.fit(1, 1e-3)
        print(json.dumps({{"grew_mb": anon_mb() - before, "array_mb": n * 3 * 64 * 64 / 2**20}}))
    """)
    # glibc's adaptive mmap threshold keeps freed batch buffers in the heap or not, by timing; a fixed
    # threshold returns every large buffer on free, so RssAnon counts live memory only
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["array_mb"] > 90 and measured["grew_mb"] < measured["array_mb"] / 3, measured


def test_batches_at_another_size_and_flipped_training_images(prepared):
    from nogancolor.data.dataloaders import RandomFlip

    torch.manual_seed(0)
    plain = colorization_dls(prepared, "hue", bs=8)
    dls = colorization_dls(prepared, "hue", bs=8, size=64, augment=True)
    x, y = dls.valid.one_batch()
    assert x.shape[-2:] == (64, 64) and y.shape[-2:] == (64, 64) and plain.valid.one_batch()[0].shape[-2:] == (32, 32)
    images = load_prepared(prepared)[0][:16]
    flipped = RandomFlip()((images, images.clone()), split_idx=0)  # as fastai calls it on training batches
    as_drawn = [torch.equal(f, i.flip(2)) for f, i in zip(flipped[0], images)]
    kept = [torch.equal(f, i) for f, i in zip(flipped[0], images)]
    assert all(a or k for a, k in zip(as_drawn, kept)) and any(as_drawn) and not all(as_drawn)
    assert torch.equal(flipped[0], flipped[1])  # input and target flipped alike
    assert RandomFlip()((images, images), split_idx=1)[0] is images  # validation batches: never
    augmented = colorization_dls(prepared, "hue", bs=16, augment=True)
    plain = colorization_dls(prepared, "hue", bs=16)
    l_plain = plain.train.new(shuffle=False).one_batch()[0]
    l_aug = augmented.train.new(shuffle=False).one_batch()[0]  # the same images; some flipped in a training loader
    as_drawn = [torch.equal(a, p.flip(2)) and not torch.equal(a, p) for a, p in zip(l_aug, l_plain)]
    assert any(as_drawn) and all(d or torch.equal(a, p) for d, a, p in zip(as_drawn, l_aug, l_plain))
    assert torch.equal(augmented.valid.one_batch()[0], plain.valid.one_batch()[0])
    with pytest.raises(DatasetError, match="size 48 is not a multiple of 32"):
        colorization_dls(prepared, "hue", bs=8, size=48)
