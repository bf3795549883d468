"""The README's example: scikit-image's astronaut photo (NASA, public domain) made gray, then
colorized at full size (512x512) by the hue-split model of each method trained under runs/
(`nogancolor train unet|dcgan|nogan --split hue`).

    python examples/readme_example.py        # -> docs/example/astronaut.jpg
"""

from pathlib import Path

from PIL import Image, ImageDraw
from skimage import data as skdata

from nogancolor.apps.colorize import Colorizer

LABELS = {"unet": "U-Net", "dcgan": "DCGAN", "nogan": "NoGAN"}


def main(out: Path = Path("docs/example")):
    out.mkdir(parents=True, exist_ok=True)
    truth = Image.fromarray(skdata.astronaut())
    gray = truth.convert("L")
    panels = [("gray input", gray.convert("RGB"))]
    for method in ("unet", "dcgan", "nogan"):
        path = Path("runs") / f"{method}-hue" / "model.safetensors"
        if path.exists():
            colorizer = Colorizer.from_checkpoint(path, device="cpu")
            panels.append((f"{LABELS[method]} ({path.parent.name})", colorizer.colorize(gray)))
    panels.append(("original colour", truth))
    width, height = truth.size
    sheet = Image.new("RGB", (width * len(panels), height + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(panels):
        sheet.paste(image, (i * width, 24))
        draw.text((i * width + 6, 6), label, fill="black")
    sheet.save(out / "astronaut.jpg", quality=90)
    print(f"{', '.join(label for label, _ in panels)} -> {out / 'astronaut.jpg'}")


if __name__ == "__main__":
    main()
