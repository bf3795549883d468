import functools
import http.server
import tarfile
import threading

import pytest

from nogancolor.data import DatasetError, download_cifar, prepare_dataset


@pytest.fixture
def served_archive(image_folder, tmp_path):
    """CIFAR-10's archive layout (cifar10/{train,test}/...) served over HTTP on 127.0.0.1."""
    site = tmp_path / "site"
    site.mkdir()
    with tarfile.open(site / "cifar10.tgz", "w:gz") as tar:
        tar.add(image_folder, arcname="cifar10")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/cifar10.tgz"
    server.shutdown()


def test_download_unpacks_fastai_style_archive(served_archive, tmp_path):
    root = download_cifar(served_archive, data=tmp_path / "data", archive=tmp_path / "archive")
    assert (root / "train").is_dir() and (root / "test").is_dir()
    meta = prepare_dataset(root, tmp_path / "prepared", progress=False)
    assert meta["subsets"]["train"]["n_color"] == 40


def test_download_failure_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="could not download.*--path"):
        download_cifar("http://127.0.0.1:9/cifar10.tgz", data=tmp_path / "d", archive=tmp_path / "a")
