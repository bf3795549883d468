"""Measure a trained photo generator the way the bundled model's card states it, and bundle it.

    python benchmarks/bundle_photo_model.py runs/photo/nogan/model.safetensors --data data/imagenette-128 \\
        --command "the commands that trained it" [--bundle] [--render-sizes 64,96,128]

On the prepared photo dataset's test set (Imagenette's val/ photos, at their stored size) it
prints the colourfulness of the colorized photos against the truth's (Hasler & Suesstrunk, as
nogancolor.evaluation.metrics computes it) and the RGB PSNR against the gray input's own; the
same through `Colorizer` on the original files (their full size, the model at its training size,
its colour joined with the full-resolution L, as `nogancolor predict` does). With --bundle it
writes the model into the package (nogancolor/apps/bundled/) with that card. Replace the bundled
model only with one that measures better: every version stays in git history. --render-sizes
adds a table of the original files colorized at other render sizes (`predict --render-size`).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nogancolor.apps.bundled import bundle
from nogancolor.apps.colorize import Colorizer, default_render_size
from nogancolor.color import lab_to_model, model_to_rgb, rgb_to_lab
from nogancolor.data import read_meta
from nogancolor.data.download import held_out
from nogancolor.evaluation.evaluate import evaluation_images
from nogancolor.evaluation.metrics import colorfulness, psnr
from nogancolor.models import load_generator
from nogancolor.train.learner import cpu_name


def add(sums: dict, pred: torch.Tensor, truth: torch.Tensor, l_norm: torch.Tensor) -> None:
    """Add a batch's colourfulness and PSNR, of the prediction and of the gray input (scaled L
    `l_norm`, no colour), to `sums`."""
    gray = model_to_rgb(l_norm, torch.zeros_like(l_norm).expand(-1, 2, -1, -1))
    for key, value in (("cf_pred", colorfulness(pred)), ("cf_true", colorfulness(truth)),
                       ("psnr_pred", psnr(pred, truth)), ("psnr_gray", psnr(gray, truth))):
        sums[key] = sums.get(key, 0.0) + float(value.sum())


@torch.no_grad()
def stored_size(model, images: torch.Tensor, bs: int = 128) -> dict:
    """Colourfulness and PSNR of the model's colorizations and of the gray input, on uint8 images."""
    sums = {}
    for i in range(0, len(images), bs):
        l_norm, ab = lab_to_model(rgb_to_lab(images[i:i + bs].float() / 255))
        add(sums, model_to_rgb(l_norm, model(l_norm).float()), model_to_rgb(l_norm, ab), l_norm)
    return {k: v / len(images) for k, v in sums.items()}


@torch.no_grad()
def full_size(path: Path, files: list[Path], render_size: int | None = None) -> dict:
    """The same through Colorizer on the original files (as `nogancolor predict`)."""
    colorizer = Colorizer.from_checkpoint(path, device="cpu", render_size=render_size)
    sums = {}
    for f in files:
        rgb = torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None]
        truth = rgb.float() / 255
        add(sums, colorizer.colorize_frames([rgb])[0].float() / 255, truth, lab_to_model(rgb_to_lab(truth))[0])
    return {k: v / len(files) for k, v in sums.items()}


def summary(m: dict, where: str) -> dict:
    return {"set": where, "colorfulness": m["cf_pred"], "colorfulness_true": m["cf_true"],
            "colorfulness_ratio": m["cf_pred"] / m["cf_true"], "psnr": m["psnr_pred"], "psnr_gray_input": m["psnr_gray"],
            "psnr_gain_db": m["psnr_pred"] - m["psnr_gray"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="the prepared photo dataset the model was trained on")
    ap.add_argument("--n-full", type=int, default=500, help="original files measured through Colorizer (evenly spaced)")
    ap.add_argument("--command", default="", help="how the model was trained, for its card")
    ap.add_argument("--bundle", action="store_true", help="write it into the package with this card")
    ap.add_argument("--dest", type=Path, default=None, help="with --bundle: elsewhere than the package (tests)")
    ap.add_argument("--render-sizes", default="", help="comma-separated: also measure the original files at these "
                                                         "render sizes and print a table")
    args = ap.parse_args()
    model, config = load_generator(args.model)
    images, _ = evaluation_images(args.data, config["split"], "test")
    meta = read_meta(args.data)
    stored = summary(stored_size(model, images), f"{meta['name']} test set ({len(images)} photos, "
                                                 f"{images.shape[-1]} px as prepared)")
    held = held_out(Path(meta["source"]))
    files = sorted(p for p in held.rglob("*") if p.is_file())
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(args.n_full, len(files))).astype(int)]
    gray_files = set(meta["subsets"]["test"]["gray_files"])
    files = [f for f in files if str(f.relative_to(held)) not in gray_files]
    full = summary(full_size(args.model, files), f"{len(files)} of its original colour files through predict")
    cpu = cpu_name()
    card = {"data": meta["name"], "trained_with": args.command, "seed": config.get("seed"),
            "machine": f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "metrics": stored, "metrics_full_size": full}
    print(json.dumps(card, indent=1))
    if args.render_sizes:
        print(f"\n{len(files)} original files through predict, {cpu}\n\n| --render-size | colourfulness / truth's | "
              "RGB PSNR gain over the gray input (dB) |\n|---|---|---|")
        for size in map(int, args.render_sizes.split(",")):
            m = summary(full_size(args.model, files, size), "")
            print(f"| {size}{' (default)' if size == default_render_size(config) else ''} | "
                  f"{m['colorfulness_ratio']:.2f}x | {m['psnr_gain_db']:+.2f} |")
    if args.bundle:
        print(f"bundled: {bundle(args.model, card, args.dest)}")


if __name__ == "__main__":
    main()
