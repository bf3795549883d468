"""Decode an image folder `root/<class>/*` into one uint8 tensor, once.

Images that are not `size`x`size` are centre-cropped to a square and resized, so users can train
on their own photos with the same pipeline.
"""

import hashlib
from pathlib import Path

import numpy as np
import torch
from fastprogress.fastprogress import progress_bar
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DatasetError
from .layout import IMAGE_SUFFIXES



def list_images(root: Path) -> tuple[list[Path], list[str]]:
    """-> (files sorted by class then name, class names): the fixed order every run sees."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; expected {root}/<class name>/<image files>")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = [f for c in classes for f in sorted((root / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DatasetError(f"no images found in {root}; expected {root}/<class name>/<image files>")
    return files, classes


def fingerprint(files: list[Path], root: Path, size: int) -> str:
    """Changes when any file is added, removed, resized or touched, or when the working size changes."""
    h = hashlib.sha256(f"size={size}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode (gray, 16-bit, palette, alpha) -> 8-bit RGB, upright by its EXIF orientation."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v / 256).convert("L")
    return img.convert("RGB")


def decode_image(path: Path, size: int) -> np.ndarray:
    """One file -> uint8 (size, size, 3); any mode (gray, 16-bit, palette, alpha) becomes RGB."""
    with Image.open(path) as img:
        img = to_rgb(img)
        if img.size != (size, size):
            img = ImageOps.fit(img, (size, size), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.uint8)


def load_image_folder(root: Path, size: int = 32, progress: bool = True, out: Path | None = None):
    """-> (images uint8 (N,3,size,size), labels int64 (N,), class names, relative file names).
    With `out`, the images are decoded straight into that .npy file, memory-mapped, so memory
    does not grow with the number of images."""
    root = Path(root)
    files, classes = list_images(root)
    shape = (len(files), 3, size, size)
    images = np.empty(shape, np.uint8) if out is None else np.lib.format.open_memmap(out, "w+", np.uint8, shape)
    labels = np.empty(len(files), dtype=np.int64)
    class_index = {c: i for i, c in enumerate(classes)}
    bad = []
    for i in progress_bar(range(len(files)), leave=False) if progress else range(len(files)):
        try:
            images[i] = decode_image(files[i], size).transpose(2, 0, 1)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            bad.append(f"{files[i].relative_to(root)} ({e.__class__.__name__})")
        labels[i] = class_index[files[i].parent.name]
    if bad:
        raise DatasetError(
            f"{len(bad)} of {len(files)} images in {root} could not be read (first: {bad[0]}); "
            "the copy is corrupt: download it again or delete those files"
        )
    names = [str(f.relative_to(root)) for f in files]
    return torch.from_numpy(images), torch.from_numpy(labels), classes, names
