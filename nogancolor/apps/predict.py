"""`nogancolor predict`: colorize files, folders and videos with a trained model.

Which model: the one given, else the best trained in this project's runs/ folder (photo models
before thumbnail ones; NoGAN first, then U-Net, then DCGAN; the highest val PSNR among a method's
runs), else the photo model bundled with the package. Images keep their size and format; videos
keep their frame rate. Bad inputs in a folder are listed, the rest are done. The inputs are
looked at before torch is imported, so a mistyped path is said at once.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..data.layout import IMAGE_SUFFIXES
from ..files import CheckpointError
from .config import IMAGES_PER_CALL, PredictConfig

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


class InputError(ValueError):
    """An input path that names nothing to colorize; the message says which."""


@dataclass
class Predicted:
    """What `predict` did: the model it used (and whether it is the bundled one), the inputs it
    planned, colorized and skipped (already done), and one line per input that failed."""

    model: Path
    bundled: bool
    about: str
    n_inputs: int
    done: int
    skipped: int
    target: Path
    failures: list[str] = field(default_factory=list)


def predict(source: Path, output: Path | None = None, config: PredictConfig = PredictConfig(), progress: bool = True,
            log=print) -> Predicted:
    """Colorize `source` (an image, a video or a folder of them) into `output` (default: beside
    it, `_color`); -> what was done. Raises InputError before loading any model when there is
    nothing to colorize; a single input that fails raises its error."""
    pairs = plan(source, output, config.compare)  # before torch is imported: a mistyped path is said at once
    if not pairs:
        raise InputError(f"{source}: no images or videos in this folder")
    given = Path(config.model) if config.model else None
    if given is not None and not given.exists():
        raise CheckpointError(f"{given}: no such model file")
    from .bundled import bundled_model, describe
    from .colorize import Colorizer
    from .video import colorize_video

    model = given or find_model()
    bundled = model is None
    model = model or bundled_model()
    colorizer = Colorizer.from_checkpoint(model, device=config.device, render_size=config.render_size,
                                          temperature=config.temperature, vividness=config.vividness)
    todo = pairs if config.overwrite or not Path(source).is_dir() else still_to_do(pairs)
    images = [(src, dst) for src, dst in todo if not is_video(src)]
    failures = colorize_images(colorizer, images, compare=config.compare, batch_size=config.batch_size, progress=progress)
    for src, dst in todo:
        if is_video(src):
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                n = colorize_video(colorizer, src, dst, smooth=config.smooth, batch_size=config.batch_size,
                                   progress=progress)
                log(f"{src}: {n} frames -> {dst}")
            except (ValueError, OSError) as e:
                failures.append(str(e))
    if len(pairs) == 1 and failures:
        raise InputError(failures[0])
    about = (f"the photo model bundled with nogancolor, {describe(colorizer.config)}" if bundled else
             f"{model} ({describe(colorizer.config)})")
    target = Path(output) if output else (pairs[0][1] if len(pairs) == 1 else pairs[0][1].parent)
    temperature = colorizer.temperature or colorizer.default_temperature
    about += f"; render size {colorizer.render_size}" + (
        f", temperature {temperature:g}, vividness {colorizer.model.vividness:g}" if temperature else "")
    return Predicted(model, bundled, about, len(pairs),
                     len(todo) - len(failures), len(pairs) - len(todo), target, failures)


def find_model(root: Path = Path("runs"), methods: tuple[str, ...] | None = None) -> Path | None:
    """The best exported generator under `root`: one trained at photo sizes (more than 32 px)
    before a thumbnail model, then by the order of `methods` (default: the registry's
    preference), then val PSNR."""
    if methods is None:
        from ..methods import by_preference

        methods = by_preference()
    found = []
    for config_path in Path(root).glob("**/model.json"):
        try:
            config = json.loads(config_path.read_text())
        except (OSError, ValueError):
            continue
        if config.get("method") in methods and config_path.with_suffix(".safetensors").exists():
            thumbnails = max(config.get("img_size", [32])) <= 32
            rank = methods.index(config["method"])
            found.append((thumbnails, rank, -config.get("metrics", {}).get("val_psnr", 0.0), str(config_path)))
    return Path(min(found)[-1]).with_suffix(".safetensors") if found else None


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def plan(source: Path, output: Path | None, compare: bool = False) -> list[tuple[Path, Path]]:
    """-> (input, output) pairs. A folder maps to a folder (same relative names, recursively);
    a file to `output` or `<stem>_color<suffix>` beside it (`_compare` with --compare)."""
    source = Path(source)
    if source.is_dir():
        out_dir = Path(output) if output else source.with_name(source.name + "_color")
        files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and (p.suffix.lower() in IMAGE_SUFFIXES or is_video(p)))
        return [(f, out_dir / f.relative_to(source)) for f in files]
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    tag = "_compare" if compare else "_color"
    return [(source, Path(output) if output else source.with_name(f"{source.stem}{tag}{source.suffix}"))]


def still_to_do(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """The pairs whose output is not there yet. An output under its final name is complete:
    every output is written under a temporary name and renamed when done."""
    return [(src, dst) for src, dst in pairs if not (dst.is_file() and dst.stat().st_size > 0)]


def colorize_images(colorizer, pairs, compare=False, batch_size=IMAGES_PER_CALL, progress=True) -> list[str]:
    """Colorize image files in batches with a Colorizer; -> one "name: reason" line per input that failed."""
    import numpy as np
    import torch
    from fastprogress.fastprogress import progress_bar

    from .colorize import ImageError, open_image, save_image, side_by_side

    failures = []
    chunks = [pairs[i:i + batch_size] for i in range(0, len(pairs), batch_size)]
    for chunk in progress_bar(chunks, leave=False) if progress and len(pairs) > 1 else chunks:
        opened = []
        for src, dst in chunk:
            try:
                opened.append((src, dst, open_image(src)))
            except ImageError as e:
                failures.append(str(e))
        if not opened:
            continue
        frames = [torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None] for _, _, (rgb, _) in opened]
        for (src, dst, (rgb, alpha)), colour in zip(opened, colorizer.colorize_frames(frames)):
            result = _to_image(colour[0], alpha)
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                save_image(side_by_side(rgb, result) if compare else result, dst)
            except (ImageError, OSError) as e:
                failures.append(str(e) if isinstance(e, ImageError) else _write_error(dst, e))
    return failures


def _write_error(dst: Path, e: OSError) -> str:
    """Say which path is in the way when an output folder cannot be made (mkdir only says
    "File exists")."""
    blocker = next((p for p in dst.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"{dst}: could not be written ({blocker} is a file, not a folder)"
    return f"{dst}: could not be written ({e.strerror or e})"


def _to_image(colour, alpha=None):
    from PIL import Image

    image = Image.fromarray(colour.permute(1, 2, 0).numpy())
    if alpha is not None:
        image.putalpha(alpha)
    return image
