"""The README's example: real photos (scikit-image's astronaut, coffee and cat: public domain or
the library's own) made gray, then colorized at full size by the model `nogancolor predict` uses
by default (the best photo model under runs/, else the one bundled with the package), beside
the original colour.

    python examples/readme_example.py        # -> docs/example/real-photos.jpg
"""

from pathlib import Path

from PIL import Image, ImageDraw
from skimage import data as skdata

from nogancolor.apps.bundled import bundled_model
from nogancolor.apps.colorize import Colorizer
from nogancolor.apps.predict import find_model

PHOTOS = ("astronaut", "coffee", "chelsea")
HEIGHT = 300  # each row's height in the sheet; colorized at the photo's full size first


def main(out: Path = Path("docs/example")):
    model = find_model() or bundled_model()
    colorizer = Colorizer.from_checkpoint(model, device="cpu")
    rows = []
    for name in PHOTOS:
        truth = Image.fromarray(getattr(skdata, name)())
        gray = truth.convert("L")
        panels = [gray.convert("RGB"), colorizer.colorize(gray), truth]
        rows.append([p.resize((round(p.width * HEIGHT / p.height), HEIGHT), Image.Resampling.LANCZOS) for p in panels])
    size = "x".join(map(str, colorizer.config["img_size"]))
    labels = ("gray input", f"colorized: {colorizer.name} trained on photos at {size} px", "original colour")
    widths = [max(row[i].width for row in rows) for i in range(3)]
    sheet = Image.new("RGB", (sum(widths), 24 + HEIGHT * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, label in enumerate(labels):
        draw.text((sum(widths[:i]) + 6, 6), label, fill="black")
    for r, row in enumerate(rows):
        for i, image in enumerate(row):  # centred in its column
            sheet.paste(image, (sum(widths[:i]) + (widths[i] - image.width) // 2, 24 + r * HEIGHT))
    out.mkdir(parents=True, exist_ok=True)
    sheet.save(out / "real-photos.jpg", quality=90)
    print(f"{', '.join(PHOTOS)} colorized with {model} -> {out / 'real-photos.jpg'}")


if __name__ == "__main__":
    main()
