"""Colorize photos of any size with a trained generator, keeping their full-resolution detail.

The model sees the image's L channel resized to a square working resolution (`render_size`, like
DeOldify's render factor); its ab prediction is upsampled back to the original size and joined
with the ORIGINAL full-resolution L, so edges and texture come from the input, not the model.
Colour inputs are made gray first (only their L is used), so colour photos work as test inputs.
"""

import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..color import L_MAX, lab_to_rgb, rgb_to_lab
from ..config import check_temperature
from ..data.folder import to_rgb
from ..files import atomic_write
from ..models import load_generator

MAX_PIXELS = 40_000_000
"""Larger images are refused: full-resolution Lab in float32 takes about 60 bytes per pixel."""


class ImageError(ValueError):
    """An input that is not a readable image, or one too large; the message says which and why."""


def open_image(source) -> tuple[Image.Image, Image.Image | None]:
    """Path, file object, PIL image or uint8/uint16 array -> (upright RGB, alpha channel or None)."""
    if isinstance(source, np.ndarray):
        array = source if source.dtype != np.uint16 else (source // 257).astype(np.uint8)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise ImageError(f"expected a uint8 or uint16 array of shape (H, W) or (H, W, 3|4), got {array.dtype} {array.shape}")
        source = Image.fromarray(array)
    if isinstance(source, Image.Image):
        alpha = source.getchannel("A") if "A" in source.getbands() else None
        return to_rgb(source), alpha
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "upload")
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: ours below says it in words
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source)
        with img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"{name}: {img.width}x{img.height} ({img.width * img.height / 1e6:.0f} megapixels) is "
                                 f"larger than the {MAX_PIXELS // 1_000_000} megapixel limit; downscale it first")
            img.load()
            alpha = img.getchannel("A") if "A" in img.getbands() else None
            return to_rgb(img), alpha
    except Image.DecompressionBombError as e:  # too large for Pillow to open: it says the pixel count only
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        size = f" ({int(pixels.group(1)) / 1e6:.0f} megapixels)" if pixels else ""
        raise ImageError(f"{name}{size} is larger than the {MAX_PIXELS // 1_000_000} megapixel limit; downscale it "
                         "first") from e
    except (UnidentifiedImageError, SyntaxError) as e:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from e
    except OSError as e:  # truncated or damaged data, unreadable file
        raise ImageError(f"{name}: could not be read ({e})") from e


class Colorizer:
    """A trained generator ready for any image: `Colorizer.from_checkpoint(path).colorize(img)`."""

    def __init__(self, model: torch.nn.Module, config: dict, device=None, render_size: int | None = None,
                 temperature: float | None = None, vividness: float | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.config = model.to(self.device).eval(), config
        self.render_size = render_size or default_render_size(config)
        if self.render_size % 32:
            raise ValueError(f"render size {self.render_size} is not a multiple of 32 (the U-Net halves it five times)")
        self.check_temperature(temperature)
        self.temperature = temperature
        if vividness is not None:
            self.check_vividness(vividness)
            self.model.vividness = vividness

    @classmethod
    def from_checkpoint(cls, path: Path, device=None, render_size: int | None = None,
                        temperature: float | None = None, vividness: float | None = None) -> "Colorizer":
        model, config = load_generator(path)
        return cls(model, config, device, render_size, temperature, vividness)

    @property
    def default_temperature(self) -> float | None:
        """The annealed-mean temperature of a colour-classification model (None for the others)."""
        return getattr(self.model, "temperature", None)

    def check_temperature(self, temperature: float | None) -> None:
        check_temperature(temperature, "--temperature")
        if temperature is not None and self.default_temperature is None:
            raise ValueError(f"--temperature applies to colour-classification models (`train classify`); this "
                             f"{self.name} model predicts one colour per pixel")

    @property
    def default_vividness(self) -> float | None:
        """A colour-classification model's share of its rebalancing kept at decoding, where it can
        be changed (None for other models and for exports without their rebalancing weights)."""
        return self.model.vividness if getattr(self.model, "undoable", False) else None

    def check_vividness(self, vividness: float | None) -> None:
        """Refuse a vividness for a model without a distribution; its range, and whether the model
        can undo its rebalancing, the model itself checks (models.bins.check_vividness)."""
        if vividness is not None and self.default_temperature is None:
            raise ValueError(f"--vividness applies to colour-classification models (`train classify`); this "
                             f"{self.name} model predicts one colour per pixel")

    @property
    def name(self) -> str:
        return self.config.get("method", "model")

    def colorize(self, image, temperature: float | None = None, vividness: float | None = None) -> Image.Image:
        """A path, PIL image or array -> the colour RGB(A) PIL image at the input's size;
        `temperature`, `vividness`: a colour-classification model's, for this call (default: the
        Colorizer's)."""
        return self.colorize_many([image], temperature, vividness)[0]

    def colorize_many(self, images: list, temperature: float | None = None,
                      vividness: float | None = None) -> list[Image.Image]:
        """Several images of any sizes; the model runs on them as one batch."""
        opened = [open_image(img) for img in images]
        rgb = [torch.from_numpy(np.array(img)).permute(2, 0, 1)[None] for img, _ in opened]
        out = []
        for (_, alpha), colour in zip(opened, self.colorize_frames(rgb, temperature, vividness)):
            result = Image.fromarray(colour[0].permute(1, 2, 0).numpy())
            if alpha is not None:
                result.putalpha(alpha)
            out.append(result)
        return out

    def colorize_frames(self, frames: list[torch.Tensor], temperature: float | None = None,
                        vividness: float | None = None) -> list[torch.Tensor]:
        """uint8 (1|N, 3, H, W) tensors (each may have its own size) -> uint8 colour tensors."""
        return [self.compose(l, ab) for l, ab in self.predict(frames, temperature, vividness)]

    @torch.no_grad()
    def predict(self, frames: list[torch.Tensor], temperature: float | None = None,
                vividness: float | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """uint8 RGB tensors -> per tensor (full-resolution scaled L, predicted scaled ab upsampled
        to full resolution); the model runs once, on all of them at the working resolution (a
        colour-classification model decoded at `temperature` and `vividness`, else the Colorizer's,
        else its own; per call, so threads sharing the model never race on its settings)."""
        l_full = [rgb_to_lab(f.to(self.device).float() / 255)[:, :1] / (L_MAX / 2) - 1 for f in frames]
        size = (self.render_size, self.render_size)
        small = torch.cat([F.interpolate(l, size=size, mode="bilinear", antialias=True, align_corners=False) for l in l_full])
        temperature = self.temperature if temperature is None else temperature
        self.check_temperature(temperature)
        self.check_vividness(vividness)
        decoding = {k: v for k, v in (("temperature", temperature), ("vividness", vividness)) if v is not None}
        ab = self.model(small, **decoding).float()
        ab = ab.split([len(l) for l in l_full])
        return [(l, F.interpolate(a, size=l.shape[-2:], mode="bilinear", align_corners=False)) for l, a in zip(l_full, ab)]

    @torch.no_grad()
    def compose(self, l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
        """Scaled L and ab -> uint8 RGB on the CPU."""
        lab = torch.cat([(l_norm + 1) * (L_MAX / 2), ab_norm * self.config.get("ab_scale", 110.0)], dim=1)
        return (lab_to_rgb(lab) * 255).round().to(torch.uint8).cpu()


def default_render_size(config: dict) -> int:
    """The render size its card measured best on full-size photos ("render_size"), else the
    size it was trained at: its colours are learnt at that object scale."""
    return int(config.get("render_size") or max(config.get("img_size", [32, 32])))


def save_image(image: Image.Image, path: Path) -> Path:
    """Write under a temporary name in the same folder, then rename: no half-written outputs."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image format {path.suffix!r}; use .png, .jpg, .webp, .bmp or .tif")
    if image.mode == "RGBA" and fmt in ("JPEG", "BMP"):
        image = image.convert("RGB")
    try:
        with atomic_write(path) as tmp:
            image.save(tmp, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    except OSError as e:
        raise ImageError(f"{path}: could not be written ({e.strerror or e})") from e
    return path


def side_by_side(gray: Image.Image, colour: Image.Image) -> Image.Image:
    """gray | colour on one canvas, for `predict --compare`."""
    canvas = Image.new("RGB", (gray.width + colour.width, max(gray.height, colour.height)), "white")
    canvas.paste(gray.convert("L").convert("RGB"), (0, 0))
    canvas.paste(colour.convert("RGB"), (gray.width, 0))
    return canvas
