import functools
import http.server
import tarfile
import threading
from contextlib import contextmanager

import pytest

from nogancolor.data import DatasetError, download_dataset, prepare_dataset


@contextmanager
def served(folder, name: str, site):
    """`folder` as the archive name.tgz (unpacking to name/...) served over HTTP on 127.0.0.1: -> its URL."""
    site.mkdir()
    with tarfile.open(site / f"{name}.tgz", "w:gz") as tar:
        tar.add(folder, arcname=name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{name}.tgz"
    finally:
        server.shutdown()


@pytest.fixture
def served_archive(image_folder, tmp_path):
    """CIFAR-10's archive layout (cifar10/{train,test}/...)."""
    with served(image_folder, "cifar10", tmp_path / "site") as url:
        yield url


def test_download_unpacks_fastai_style_archive(served_archive, tmp_path):
    root = download_dataset("cifar10", served_archive, data=tmp_path / "data", archive=tmp_path / "archive")
    assert (root / "train").is_dir() and (root / "test").is_dir()
    meta = prepare_dataset(root, tmp_path / "prepared", progress=False)
    assert meta["subsets"]["train"]["n_color"] == 40


def test_download_failure_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="could not download.*--path"):
        download_dataset("cifar10", "http://127.0.0.1:9/cifar10.tgz", data=tmp_path / "d", archive=tmp_path / "a")


def test_imagenette_is_fetched_as_fastai_lays_it_out_and_its_val_part_becomes_the_test_set(image_folder, tmp_path):
    """fastai's imagenette2 layout: imagenette2-160/{train,val}/<wnid>/*.JPEG, served locally."""
    import shutil

    from fastai.data.external import URLs

    assert URLs.IMAGENETTE_160.endswith("imagenette2-160.tgz")  # what --dataset imagenette downloads
    photos = tmp_path / "imagenette2-160"
    shutil.copytree(image_folder / "train", photos / "train")
    shutil.copytree(image_folder / "test", photos / "val")
    with served(photos, "imagenette2-160", tmp_path / "site") as url:
        root = download_dataset("imagenette", url, data=tmp_path / "data", archive=tmp_path / "archive", progress=False)
    meta = prepare_dataset(root, tmp_path / "prepared", progress=False)
    assert meta["name"] == "imagenette2-160" and meta["subsets"]["test"]["n_files"] == 13  # val/: 10 colour, 3 gray
    assert meta["subsets"]["test"]["n_color"] == 10


def test_an_unknown_dataset_name_is_refused_in_words(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset .mnist.; choose one of cifar10, imagenette, tinyimagenet"):
        download_dataset("mnist", data=tmp_path / "d", archive=tmp_path / "a")


def tiny_imagenet_archive(image_folder, site, labels: bool = True):
    """A zip laid out as the official tiny-imagenet-200.zip: train/<wnid>/images/*, val/images/
    with val_annotations.txt, an unlabelled test/images/."""
    import zipfile

    site.mkdir()
    path = site / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(path, "w") as z:
        for photo in sorted((image_folder / "train").glob("*/*.png")):
            z.write(photo, f"tiny-imagenet-200/train/{photo.parent.name}/images/{photo.name}")
        for wnid in sorted(p.name for p in (image_folder / "train").iterdir()):
            z.writestr(f"tiny-imagenet-200/train/{wnid}/{wnid}_boxes.txt", "")
        lines = []
        for i, photo in enumerate(sorted((image_folder / "test").glob("*/*.png"))):
            z.write(photo, f"tiny-imagenet-200/val/images/val_{i}.png")
            lines.append(f"val_{i}.png\t{photo.parent.name}\t0\t0\t63\t63")
            z.write(photo, f"tiny-imagenet-200/test/images/test_{i}.png")
        if labels:
            z.writestr("tiny-imagenet-200/val/val_annotations.txt", "\n".join(lines) + "\n")
    return path


def serve_folder(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_tiny_imagenet_is_fetched_as_its_official_zip_lays_it_out_and_regrouped_into_class_folders(image_folder, tmp_path):
    from nogancolor.data.download import DATASETS

    assert DATASETS["tinyimagenet"].endswith("/tiny-imagenet-200.zip")  # what --dataset tinyimagenet downloads
    tiny_imagenet_archive(image_folder, tmp_path / "site")
    server = serve_folder(tmp_path / "site")
    try:
        url = f"http://127.0.0.1:{server.server_port}/tiny-imagenet-200.zip"
        root = download_dataset("tinyimagenet", url, data=tmp_path / "data", archive=tmp_path / "archive", progress=False)
    finally:
        server.shutdown()
    assert sorted(p.name for p in root.iterdir()) == ["test-unlabelled", "train", "val"]
    meta = prepare_dataset(root, tmp_path / "prepared", progress=False)
    assert meta["subsets"]["train"]["n_files"] == 43 and meta["subsets"]["test"]["n_files"] == 13  # val/ is the test set
    assert meta["subsets"]["test"]["classes"] == ["blueish", "reddish"] and meta["subsets"]["test"]["n_color"] == 10


def test_a_tiny_imagenet_folder_without_its_val_labels_is_refused_in_words(image_folder, tmp_path):
    import zipfile

    archive = tiny_imagenet_archive(image_folder, tmp_path / "site", labels=False)
    zipfile.ZipFile(archive).extractall(tmp_path / "unpacked")
    with pytest.raises(DatasetError, match="val_annotations.txt, which names their classes, is missing"):
        prepare_dataset(tmp_path / "unpacked" / "tiny-imagenet-200", tmp_path / "prepared", progress=False)
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["data", "prepare", "--path", str(tmp_path / "unpacked" / "tiny-imagenet-200"),
                                      "--size", "64", "--out", str(tmp_path / "p")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and "val_annotations.txt" in lines[0]
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "val").mkdir()
    with pytest.raises(DatasetError, match="no images found in .*train; expected .*<class name>/<image files>"):
        prepare_dataset(tmp_path / "empty", tmp_path / "prepared2", progress=False)
