"""Fetch a dataset with fastai's `untar_data` (folders `train/` and `test/` or `val/` of classes),
or unpack a local archive of one."""

import io
import shutil
import tarfile
from contextlib import nullcontext, redirect_stdout
from pathlib import Path

from .errors import DatasetError


# what `data prepare --dataset NAME` downloads: the name of its address in fastai's URLs, or the address
DATASETS = {"cifar10": "CIFAR", "imagenette": "IMAGENETTE_160",
            "tinyimagenet": "http://cs231n.stanford.edu/tiny-imagenet-200.zip"}
HELD_OUT = ("test", "val")  # the held-out part's folder, beside train/: it becomes the test set
TINY_VAL_LABELS = "val_annotations.txt"  # Tiny-ImageNet's val/: images/ plus this file naming each one's class


def download_dataset(name: str = "cifar10", url: str | None = None, data: Path | None = None,
                     archive: Path | None = None, progress: bool = True) -> Path:
    """Download and unpack a dataset of DATASETS (or the archive at `url`) -> the folder holding
    train/ and test/ (or val/). Without `progress`, fastdownload's bar stays silent (it prints
    its first block before the request is even made, so a failed download would leave a stray
    block above the error)."""
    from fastai.data.external import URLs, untar_data

    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or pass --path to a folder")
    url = url or (DATASETS[name] if "://" in DATASETS[name] else getattr(URLs, DATASETS[name]))
    try:
        with nullcontext() if progress else redirect_stdout(io.StringIO()):
            path = untar_data(url, data=data, archive=archive)
    except Exception as e:  # network, disk and archive errors all mean the same thing to the user
        raise DatasetError(
            f"could not download {url} ({e.__class__.__name__}: {e}); "
            "check the connection, or pass --path to a local copy with train/ and test/ (or val/) folders"
        ) from e
    return find_dataset_root(path)


def find_dataset_root(path: Path) -> Path:
    """The folder with train/ and test/ (or val/): `path` itself or its single subfolder (as
    archives unpack)."""
    path = Path(path)
    subdirs = [d for d in path.iterdir() if d.is_dir()] if path.is_dir() else []
    root = path if (path / "train").is_dir() else subdirs[0] if len(subdirs) == 1 and (subdirs[0] / "train").is_dir() else None
    if root is None:
        raise DatasetError(f"{path} holds no train/ folder; expected {path}/train/<class>/<images> and {path}/test/ "
                           "(or val/)")
    regroup_tinyimagenet(root)
    held_out(root)  # fails in words when there is none
    return root


def regroup_tinyimagenet(root: Path) -> None:
    """Tiny-ImageNet as its official archive lays it out (train/<wnid>/images/*.JPEG; val/images/
    with val_annotations.txt naming each photo's class; test/ without labels) -> the class-folder
    layout every dataset here has: train/<wnid>/, val/<wnid>/, the unlabelled test/ set aside as
    test-unlabelled/. Done in place, once; any other folder is left as it is."""
    root = Path(root)
    val_images = root / "val" / "images"
    if not val_images.is_dir():
        return
    labels = root / "val" / TINY_VAL_LABELS
    if not labels.is_file():
        raise DatasetError(f"{val_images} holds Tiny-ImageNet's val photos but {labels}, which names their classes, is "
                           "missing: use the complete archive (tiny-imagenet-200.zip)")
    for line in labels.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            continue
        photo = val_images / fields[0]
        if photo.exists():
            (root / "val" / fields[1]).mkdir(exist_ok=True)
            photo.rename(root / "val" / fields[1] / fields[0])
    if any(val_images.iterdir()):
        raise DatasetError(f"{labels} names no class for some photos in {val_images}: is it the archive's own file?")
    val_images.rmdir()
    for nested in (root / "train").glob("*/images"):
        for photo in nested.iterdir():
            photo.rename(nested.parent / photo.name)
        nested.rmdir()
    if (root / "test" / "images").is_dir():
        (root / "test").rename(root / "test-unlabelled")


def held_out(root: Path) -> Path:
    """The held-out part of a dataset folder, test/ or else val/ (fastai's Imagenette layout)."""
    for name in HELD_OUT:
        if (Path(root) / name).is_dir():
            return Path(root) / name
    raise DatasetError(f"{root} has train/ but no held-out part: expected {root}/test/ or {root}/val/ of class folders")


def dataset_name(source: Path | str) -> str:
    """The name a dataset is known by: a download's name, or a folder's or archive's file name."""
    if isinstance(source, str) and source in DATASETS:
        return source
    name = Path(source).name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        name = name.removesuffix(suffix)
    return name


def unpack_archive(archive: Path, dest: Path) -> Path:
    """Unpack a local .tar.gz of a dataset folder into `dest` once -> the folder with train/."""
    dest = Path(dest)
    done = dest / ".unpacked"
    if not done.exists() or done.read_text().strip() != str(Path(archive).resolve()):
        shutil.rmtree(dest, ignore_errors=True)  # another archive's files
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")
        except (OSError, EOFError, tarfile.TarError) as e:  # EOFError: a truncated gzip stream
            raise DatasetError(f"could not unpack {archive} ({e.__class__.__name__}: {e}); is it a complete .tar.gz?") from e
        done.write_text(str(Path(archive).resolve()) + "\n")
    return find_dataset_root(dest)
