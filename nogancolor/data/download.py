"""Fetch CIFAR-10 with fastai's `untar_data` (PNG folders `train/` and `test/` of classes)."""

import io
import tarfile
from contextlib import nullcontext, redirect_stdout
from pathlib import Path

from .errors import DatasetError


def download_cifar(url: str | None = None, data: Path | None = None, archive: Path | None = None,
                   progress: bool = True) -> Path:
    """Download and unpack CIFAR-10 (or the archive at `url`) -> the folder holding train/ and test/.
    Without `progress`, fastdownload's bar stays silent (it prints its first block before the
    request is even made, so a failed download would leave a stray block above the error)."""
    from fastai.data.external import URLs, untar_data

    url = url or URLs.CIFAR
    try:
        with nullcontext() if progress else redirect_stdout(io.StringIO()):
            path = untar_data(url, data=data, archive=archive)
    except Exception as e:  # network, disk and archive errors all mean the same thing to the user
        raise DatasetError(
            f"could not download {url} ({e.__class__.__name__}: {e}); "
            "check the connection, or pass --path to a local copy with train/ and test/ folders"
        ) from e
    return find_dataset_root(path)


def find_dataset_root(path: Path) -> Path:
    """The folder with train/ and test/: `path` itself or its single subfolder (as archives unpack)."""
    path = Path(path)
    if (path / "train").is_dir():
        return path
    subdirs = [d for d in path.iterdir() if d.is_dir()] if path.is_dir() else []
    if len(subdirs) == 1 and (subdirs[0] / "train").is_dir():
        return subdirs[0]
    raise DatasetError(f"{path} holds no train/ folder; expected {path}/train/<class>/<images> and {path}/test/...")


def unpack_archive(archive: Path, dest: Path) -> Path:
    """Unpack a local .tar.gz of a dataset folder into `dest` once -> the folder with train/."""
    dest = Path(dest)
    done = dest / ".unpacked"
    if not done.exists():
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")
        except (OSError, EOFError, tarfile.TarError) as e:  # EOFError: a truncated gzip stream
            raise DatasetError(f"could not unpack {archive} ({e.__class__.__name__}: {e}); is it a complete .tar.gz?") from e
        done.write_text(str(Path(archive).resolve()) + "\n")
    return find_dataset_root(dest)
