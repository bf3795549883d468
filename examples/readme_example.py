"""The README's example: scikit-image's astronaut photo (NASA, public domain) made gray, then
colorized at full size (512x512) by the best trained model of each method under runs/.

    python examples/readme_example.py        # -> docs/example/astronaut.png
"""

from pathlib import Path

from PIL import Image, ImageDraw
from skimage import data as skdata

from nogancolor.colorize import Colorizer
from nogancolor.predict import METHOD_PREFERENCE, find_model

LABELS = {"unet": "U-Net", "dcgan": "DCGAN", "nogan": "NoGAN"}


def main(out: Path = Path("docs/example")):
    out.mkdir(parents=True, exist_ok=True)
    truth = Image.fromarray(skdata.astronaut())
    gray = truth.convert("L")
    gray.save(out / "astronaut_gray.png")
    panels = [("gray input", gray.convert("RGB"))]
    for method in ("unet", "dcgan", "nogan"):
        path = find_model(Path("runs"), methods=(method,))
        if path:
            colorizer = Colorizer.from_checkpoint(path, device="cpu")
            panels.append((f"{LABELS[method]} ({path.parent.name})", colorizer.colorize(gray)))
    panels.append(("original colour", truth))
    width, height = truth.size
    sheet = Image.new("RGB", (width * len(panels), height + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(panels):
        sheet.paste(image, (i * width, 24))
        draw.text((i * width + 6, 6), label, fill="black")
    sheet.save(out / "astronaut.png")
    print(f"{', '.join(label for label, _ in panels)} -> {out / 'astronaut.png'}")


if __name__ == "__main__":
    main()
