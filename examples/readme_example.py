"""The README's and the docs' example figures: real photos (scikit-image's astronaut, coffee and
cat: public domain or the library's own) made gray, then colorized at full size by the photo
model bundled with the package (what `nogancolor predict` uses on a fresh clone).

    python examples/readme_example.py   # -> docs/example/real-photos.jpg, docs/example/render-size.jpg
    python examples/readme_example.py --compare bundled@64 runs/x/model.safetensors@128 --out look.jpg
    python examples/readme_example.py --compare runs/classify/model.safetensors@96@0.6@0.5 --out look.jpg

real-photos.jpg: gray input | colorized | original colour.
render-size.jpg: the same photos colorized at several render sizes (`predict --render-size`, the
working resolution the model sees), each with its colourfulness as a fraction of the original's.
--compare: gray input | each MODEL@RENDER_SIZE[@T[@V]] ("bundled" for the bundled model; T and V the
decoding temperature and vividness of a colour-classification model) | original colour,
on those photos and the night rocket, to look at candidate models side by side.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from skimage import data as skdata

from nogancolor.apps.bundled import bundled_model
from nogancolor.apps.colorize import Colorizer
from nogancolor.evaluation.metrics import colorfulness

PHOTOS = ("astronaut", "coffee", "chelsea")
HEIGHT = 300  # each row's height in the sheet; colorized at the photo's full size first
RENDER_SIZES = (32, 64, 128, 256)


def sheet(rows: list[list[Image.Image]], labels: list[str], captions: list[list[str]] | None = None) -> Image.Image:
    """Rows of images scaled to HEIGHT, centred in labelled columns; `captions` under each panel."""
    rows = [[p.resize((round(p.width * HEIGHT / p.height), HEIGHT), Image.Resampling.LANCZOS) for p in row]
            for row in rows]
    widths = [max(row[i].width for row in rows) for i in range(len(labels))]
    sheet = Image.new("RGB", (sum(widths), 24 + HEIGHT * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, label in enumerate(labels):
        draw.text((sum(widths[:i]) + 6, 6), label, fill="black")
    for r, row in enumerate(rows):
        for i, image in enumerate(row):
            x, y = sum(widths[:i]) + (widths[i] - image.width) // 2, 24 + r * HEIGHT
            sheet.paste(image, (x, y))
            if captions and captions[r][i]:
                draw.rectangle((x, y + HEIGHT - 20, x + 7 * len(captions[r][i]) + 8, y + HEIGHT), fill="white")
                draw.text((x + 4, y + HEIGHT - 16), captions[r][i], fill="black")
    return sheet


def image_colorfulness(image: Image.Image) -> float:
    return colorfulness(torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None] / 255).item()


def main(out: Path = Path("docs/example")):
    model = bundled_model()
    colorizer = Colorizer.from_checkpoint(model, device="cpu")
    truths = [Image.fromarray(getattr(skdata, name)()) for name in PHOTOS]
    grays = [truth.convert("L") for truth in truths]
    size = "x".join(map(str, colorizer.config["img_size"]))
    out.mkdir(parents=True, exist_ok=True)
    rows = [[gray.convert("RGB"), colorizer.colorize(gray), truth] for gray, truth in zip(grays, truths)]
    labels = ["gray input", f"colorized: {colorizer.name} trained on photos at {size} px", "original colour"]
    sheet(rows, labels).save(out / "real-photos.jpg", quality=90)

    at_size = [Colorizer(colorizer.model, colorizer.config, "cpu", render) for render in RENDER_SIZES]
    rows, captions = [], []
    for gray, truth in zip(grays, truths):
        panels = [c.colorize(gray) for c in at_size]
        rows.append(panels + [truth])
        true = image_colorfulness(truth)
        captions.append([f"{image_colorfulness(p) / true:.2f}x colourfulness" for p in panels] + [""])
    labels = [f"--render-size {s}" + (" (default)" if s == colorizer.render_size else "") for s in RENDER_SIZES]
    sheet(rows, labels + ["original colour"], captions).save(out / "render-size.jpg", quality=90)
    print(f"{', '.join(PHOTOS)} colorized with {model} -> {out / 'real-photos.jpg'}, {out / 'render-size.jpg'}")


def compare(specs: list[str], out: Path):
    """One sheet: the gray photos, each model at its render size, the originals."""
    colorizers, labels = [], []
    for spec in specs:
        model, size, *decoding = spec.split("@")
        path = bundled_model() if model == "bundled" else Path(model)
        t, v = (float(decoding[i]) if len(decoding) > i else None for i in (0, 1))
        colorizers.append(Colorizer.from_checkpoint(path, device="cpu", render_size=int(size), temperature=t, vividness=v))
        labels.append(f"{model if model == 'bundled' else path.parent.name} at {size} px"
                      + (f", T {t:g}" if t else "") + (f", V {v:g}" if v is not None else ""))
    truths = [Image.fromarray(getattr(skdata, name)()) for name in (*PHOTOS, "rocket")]
    rows = [[truth.convert("L").convert("RGB"), *(c.colorize(truth.convert("L")) for c in colorizers), truth]
            for truth in truths]
    sheet(rows, ["gray input", *labels, "original colour"]).save(out, quality=90)
    print(f"{len(truths)} photos through {', '.join(specs)} -> {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", nargs="+", metavar="MODEL@RENDER_SIZE[@T[@V]]", help="models to look at side by side")
    ap.add_argument("--out", type=Path, default=Path("docs/example"), help="a folder, or with --compare a .jpg file")
    args = ap.parse_args()
    compare(args.compare, args.out) if args.compare else main(args.out)
