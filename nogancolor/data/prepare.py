"""Turn an image folder (or a fresh CIFAR-10 download) into a prepared dataset directory.

The directory holds the colour images as uint8 .npy arrays (gray ones dropped and listed), both
splits as JSON index files, and `meta.json`, written last, which marks it complete. Decoding is
skipped when the source has not changed since the last run.
"""

import json
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write, write_json
from .download import DATASETS, dataset_name, download_dataset, find_dataset_root, held_out, unpack_archive
from .errors import DatasetError
from .folder import fingerprint, list_images, load_image_folder
from .gray import DEFAULT_GRAY_TOL, is_gray
from .layout import DATA_ROOT, DEFAULT_DATA_DIR
from .splits import SPLIT_KINDS, load_split, save_split, split_indices, split_path

SUBSETS = ("train", "test")  # "test": the folder's held-out part, test/ or val/
CHUNK = 1024  # images handled at once where a whole dataset would not fit in memory


def save_rows(path: Path, source: torch.Tensor, keep: torch.Tensor) -> None:
    """Write the rows of `source` where `keep` is True as a .npy file, CHUNK rows at a time
    (`source` may be memory-mapped: memory stays one chunk whatever its size)."""
    rows = keep.nonzero().flatten()
    with atomic_write(path) as tmp:
        dest = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(rows), *source.shape[1:]))
        for start in range(0, len(rows), CHUNK):
            dest[start:start + CHUNK] = source[rows[start:start + CHUNK]].numpy()
        dest.flush()
        del dest


def _save_npy(path: Path, array) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array))


def prepared_name(meta: dict) -> str:
    """The name of the dataset a meta record was prepared from (older records name only its folder)."""
    return meta.get("name") or Path(meta.get("source", "")).name


def read_meta(out: Path) -> dict:
    """A prepared dataset's meta.json (source, counts, splits), or {} when it is not prepared."""
    try:
        return json.loads((Path(out) / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


def prepare_dataset(
    source: Path | str = "cifar10",
    out: Path = DEFAULT_DATA_DIR,
    size: int = 32,
    gray_tol: int = DEFAULT_GRAY_TOL,
    val_fraction: float = 0.1,
    seed: int = 0,
    progress: bool = True,
    force: bool = False,
) -> dict:
    """Decode, drop gray images, write both splits; -> the dataset's meta record (also in meta.json).

    `source` is a folder with train/ and test/ (or val/, its held-out part) of class folders, a
    .tar.gz of one (unpacked into out/source), or the name of a dataset to download (DATASETS).
    A folder prepared from another dataset is replaced only with `force`.
    """
    out = Path(out)
    if size % 32:
        raise DatasetError(f"--size {size} is not a multiple of 32 (the generators halve it five times); "
                           f"use {max(32, size // 32 * 32)} or {size // 32 * 32 + 32}")
    old, name = read_meta(out), dataset_name(source)
    if old and prepared_name(old) != name and not force:
        raise DatasetError(f"{out} holds the prepared dataset {prepared_name(old)!r}, not {name!r}: prepare it "
                           f"elsewhere (--out {DATA_ROOT / name}) or replace it with --force")
    if isinstance(source, str) and source in DATASETS:
        root = download_dataset(source, progress=progress)
    elif Path(source).is_file():
        root = unpack_archive(source, out / "source")
    else:
        root = find_dataset_root(source)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"name": name, "source": str(Path(root).resolve()), "size": size, "gray_tol": gray_tol, "subsets": {}}
    for subset in SUBSETS:
        folder = root / "train" if subset == "train" else held_out(root)
        files, classes = list_images(folder)
        fp = fingerprint(files, folder, size)
        previous = old.get("subsets", {}).get(subset, {})
        # what the images were stored as: the JPEG copy of CIFAR-10 and the official PNGs score differently
        file_types = sorted({f.suffix.lower().lstrip(".") for f in files})
        if previous.get("fingerprint") == fp and old.get("gray_tol") == gray_tol and (out / f"{subset}_images.npy").exists():
            meta["subsets"][subset] = previous | {"decoded": False, "file_types": file_types}
            continue
        decoded = out / f".{subset}_decoded.npy"
        images, labels, classes, names = load_image_folder(folder, size, progress, out=decoded)
        gray = torch.cat([is_gray(chunk, gray_tol) for chunk in images.split(CHUNK)])
        save_rows(out / f"{subset}_images.npy", images, ~gray)
        del images
        decoded.unlink()
        _save_npy(out / f"{subset}_labels.npy", labels[~gray].numpy())
        meta["subsets"][subset] = {
            "fingerprint": fp,
            "classes": classes,
            "n_files": len(names),
            "n_gray": int(gray.sum()),
            "n_color": int((~gray).sum()),
            "gray_files": [n for n, g in zip(names, gray.tolist()) if g],
            "decoded": True,
            "file_types": file_types,
        }
    train_images = torch.from_numpy(np.load(out / "train_images.npy", mmap_mode="c"))
    meta["splits"] = {}
    for kind in SPLIT_KINDS:
        options = {"kind": kind, "val_fraction": val_fraction, "seed": seed if kind == "random" else None,
                   "train_fingerprint": meta["subsets"]["train"]["fingerprint"], "gray_tol": gray_tol}
        path = split_path(out, kind)
        if not path.exists() or _split_options(path) != options:
            train_idx, val_idx = split_indices(train_images, kind, val_fraction, seed)
            save_split(path, train_idx, val_idx, **options)
        train_idx, val_idx, _ = load_split(path)
        meta["splits"][kind] = {"file": str(path.relative_to(out)), "n_train": len(train_idx), "n_val": len(val_idx)}
    write_json(out / "meta.json", meta)
    return meta


def _split_options(path: Path) -> dict | None:
    try:
        return load_split(path)[2]
    except (OSError, ValueError, KeyError):
        return None


def load_prepared(path: Path, subset: str = "train"):
    """-> (images uint8 (N,3,S,S), memory-mapped; labels (N,); meta) of a prepared dataset directory."""
    path = Path(path)
    meta = read_meta(path)
    if not meta:
        hint = f" --path {path}" if (path / "train").is_dir() else ""
        raise DatasetError(f"{path} is not a prepared dataset; run `nogancolor data prepare{hint} --out {path}` first")
    try:  # memory-mapped: a batch reads only its rows, so a dataset larger than memory trains
        images = np.load(path / f"{subset}_images.npy", mmap_mode="c")
        labels = np.load(path / f"{subset}_labels.npy")
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}/{subset}_images.npy is missing or damaged ({e}); run `nogancolor data prepare` again") from e
    return torch.from_numpy(images), torch.from_numpy(labels), meta
