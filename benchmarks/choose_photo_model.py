"""Choose the photo model to bundle and its default render size by a rule stated before measuring,
on held-out photos at full size through predict's render path, and bundle the choice.

    python benchmarks/choose_photo_model.py runs/a/model.safetensors runs/b/model.safetensors \\
        --render-sizes 64,96,128,192,256 [--temperatures 1,0.6,0.38] [--vividness 1,0.5,0] [--bundle --command "..."]

A colour-classification model (`train classify`) is measured at each of `--temperatures` and
`--vividness` (the share of its training's class rebalancing the decoding keeps) too.

Sets (each photo made gray, colorized by `Colorizer` as `nogancolor predict` does, and scored
against its original; none was seen in training):
- imagenette-val: Imagenette's val photos at their stored 128 px (data/imagenette-128/val, the
  ImageNet val photos of its 10 classes), `--n` evenly spaced colour ones;
- tinyimagenet-val: Tiny-ImageNet's official val photos at 64 px (data/tinyimagenet-64/val);
- everyday: scikit-image's colour photos of other kinds (astronaut, cat, coffee cup, rocket,
  motorcycle), 300-640 px.

Besides colourfulness and PSNR, the folder sets get two measures in ImageNet features, independent
of any network trained here (nogancolor.models.imagenet.ImageNetJudge, the offline ImageNet
EfficientNet-Lite0, photos resized to 128 px): the Frechet distance between its pooled
1/16-scale features of the colorized and of the real photos ("ImageNet-Lite FD", not Inception
FID), and its ImageNet top-1 on the colorized photos (Zhang et al.'s semantic test), beside the
real and gray photos' own.

THE RULE (applied on imagenette-val): among every (model, render size) that beats the model
bundled now on both colourfulness ratio and RGB PSNR gain over the gray input, those at +1.0 dB
or more if any, the highest colourfulness ratio; it is bundled (with --bundle), and the card keeps
every number. If none beats the bundled model on both, nothing is chosen. (Until 2026-12-01 the
rule fell back to the highest PSNR gain when no row reached +1.0 dB, and bundled that only if it
beat the bundled model: a rule that picked the grayest candidate and bundled none.)
"""

import argparse
import json
from itertools import product
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nogancolor.apps.bundled import BUNDLED, bundle
from nogancolor.apps.colorize import Colorizer
from nogancolor.color import lab_to_model, model_to_rgb, rgb_to_lab
from nogancolor.data.gray import is_gray
from nogancolor.evaluation.metrics import classify, colorfulness, frechet_distance, psnr
from nogancolor.files import project_path
from nogancolor.models.imagenet import ImageNetJudge
from nogancolor.train.learner import cpu_name

PSNR_GOAL = 1.0  # dB over the gray input
EVERYDAY = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")


JUDGE_SIZE = 128


def folder_photos(folder: Path, n: int) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """`n` evenly spaced colour photos of a class-folder tree (uint8 (1, 3, H, W) each) and their
    ImageNet class indices where the folders are ImageNet wnids (else None)."""
    from timm.data import ImageNetInfo

    index = {wnid: i for i, wnid in enumerate(ImageNetInfo().label_names())}
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    photos, labels = [], []
    for f in (files[i] for i in np.linspace(0, len(files) - 1, min(n * 2, len(files))).astype(int)):
        rgb = torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None]
        if not is_gray(rgb)[0]:
            photos.append(rgb)
            labels.append(index.get(f.parent.name, -1))
    step = max(1, len(photos) // n)
    labels = torch.tensor(labels[::step][:n])
    return photos[::step][:n], None if (labels < 0).any() else labels


@torch.no_grad()
def judged(judge, images: list[torch.Tensor]) -> tuple[torch.Tensor, np.ndarray]:
    """(ImageNet logits, pooled features) of float RGB images in [0, 1], each resized to JUDGE_SIZE."""
    batch = torch.cat([torch.nn.functional.interpolate(im, size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear",
                                                       antialias=True, align_corners=False) for im in images])
    logits, features = classify(judge, batch)
    return logits, features.double().numpy()


def everyday_photos() -> list[torch.Tensor]:
    from skimage import data

    photos = [getattr(data, name)() for name in EVERYDAY]
    return [torch.from_numpy(np.ascontiguousarray(p[0] if isinstance(p, tuple) else p)).permute(2, 0, 1)[None]
            for p in photos]


@torch.no_grad()
def measure(colorizer: Colorizer, photos: list[torch.Tensor], labels=None, judge=None) -> dict:
    """Mean colourfulness (prediction, truth) and RGB PSNR (prediction, gray input) over `photos`;
    with ImageNet `labels` and the `judge`, the ImageNet-Lite FD and top-1 of real, gray, colorized."""
    sums = dict.fromkeys(("cf_pred", "cf_true", "psnr_pred", "psnr_gray"), 0.0)
    kept = {"real": [], "gray": [], "colorized": []}
    for rgb in photos:
        truth = rgb.float() / 255
        pred = colorizer.colorize_frames([rgb])[0].float() / 255
        l_norm = lab_to_model(rgb_to_lab(truth))[0]
        gray = model_to_rgb(l_norm, torch.zeros_like(l_norm).expand(-1, 2, -1, -1))
        for key, value in (("cf_pred", colorfulness(pred)), ("cf_true", colorfulness(truth)),
                           ("psnr_pred", psnr(pred, truth)), ("psnr_gray", psnr(gray, truth))):
            sums[key] += float(value.sum())
        for key, image in (("real", truth), ("gray", gray), ("colorized", pred)):
            kept[key].append(image)
    m = {k: v / len(photos) for k, v in sums.items()}
    record = {"n_photos": len(photos), "colorfulness": m["cf_pred"], "colorfulness_true": m["cf_true"],
              "colorfulness_ratio": m["cf_pred"] / m["cf_true"], "psnr": m["psnr_pred"], "psnr_gray_input": m["psnr_gray"],
              "psnr_gain_db": m["psnr_pred"] - m["psnr_gray"]}
    if judge is not None and labels is not None:
        seen = {key: judged(judge, images) for key, images in kept.items()}
        for key, (logits, _) in seen.items():
            record[f"imagenet_top1_{key}"] = float((logits.argmax(1) == labels).float().mean())
        record["imagenet_lite_fd"] = frechet_distance(seen["real"][1], seen["colorized"][1])
        record["imagenet_lite_fd_gray"] = frechet_distance(seen["real"][1], seen["gray"][1])
    return record


def choose(rows: list[dict], now: dict) -> dict | None:
    """THE RULE of the module docstring, over rows of imagenette-val measurements and the bundled
    model's (`now`): the row to bundle, or None."""
    better = [r for r in rows if r["colorfulness_ratio"] > now["colorfulness_ratio"] and r["psnr_gain_db"] > now["psnr_gain_db"]]
    passing = [r for r in better if r["psnr_gain_db"] >= PSNR_GOAL] or better
    return max(passing, key=lambda r: r["colorfulness_ratio"]) if passing else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--render-sizes", default="64,96,128,192,256")
    ap.add_argument("--temperatures", default="1,0.6,0.38", help="for colour-classification models")
    ap.add_argument("--vividness", default="1", help="for colour-classification models exported with their "
                    "rebalancing weights")
    ap.add_argument("--n", type=int, default=500, help="photos per folder set")
    ap.add_argument("--imagenette", type=Path, default=Path("data/imagenette-128/val"))
    ap.add_argument("--tinyimagenet", type=Path, default=Path("data/tinyimagenet-64/val"))
    ap.add_argument("--current", type=Path, default=BUNDLED, help="the model bundled now, to beat")
    ap.add_argument("--bundle", action="store_true")
    ap.add_argument("--dest", type=Path, default=None, help="with --bundle: elsewhere than the package (tests)")
    ap.add_argument("--command", default="", help="how the chosen model was trained, for its card")
    ap.add_argument("--out", type=Path, default=None, help="write every measurement here as JSON")
    args = ap.parse_args()
    judge = ImageNetJudge()
    sets = {"imagenette-val": folder_photos(args.imagenette, args.n),
            "tinyimagenet-val": folder_photos(args.tinyimagenet, args.n), "everyday": (everyday_photos(), None)}
    sizes = [int(s) for s in args.render_sizes.split(",")]
    temperatures = [float(t) for t in args.temperatures.split(",")]
    vividness = [float(v) for v in args.vividness.split(",")]
    cpu = f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    print(f"{cpu}; photos per set: " + ", ".join(f"{k} {len(v[0])}" for k, v in sets.items()))
    print("\n| model | render size | T | vividness | " + " | ".join(f"{s}: colourfulness / truth, PSNR over gray" for s in sets) +
          " | ImageNet-Lite FD (imagenette, tiny) | ImageNet top-1 (imagenette, tiny) |\n|---|---|---|---|" + "---|" * (len(sets) + 2))
    rows = []
    candidates = [(args.current, None, None, None)] + [
        (model, size, t, v) for model in args.models for size in sizes
        for t, v in (product(temperatures, vividness) if Colorizer.from_checkpoint(model, device="cpu").default_temperature
                     else [(None, None)])]
    for model, size, t, v in candidates:
        colorizer = Colorizer.from_checkpoint(model, device="cpu", render_size=size, temperature=t, vividness=v)
        row = {"model": project_path(model), "render_size": colorizer.render_size, "temperature": t, "vividness": v,
               "sets": {name: measure(colorizer, photos, labels, judge) for name, (photos, labels) in sets.items()}}
        rows.append(row)
        cells = [f"{m['colorfulness_ratio']:.2f}x, {m['psnr_gain_db']:+.2f} dB" for m in row["sets"].values()]
        folders = [row["sets"][k] for k in ("imagenette-val", "tinyimagenet-val")]
        cells += [", ".join(f"{m['imagenet_lite_fd']:.1f}" if "imagenet_lite_fd" in m else "-" for m in folders),
                  ", ".join(f"{m['imagenet_top1_colorized']:.3f}" if "imagenet_lite_fd" in m else "-" for m in folders)]
        label = "bundled now" if model == args.current else model.parent.name
        print(f"| {label} | {colorizer.render_size} | {t or '-'} | {'-' if v is None else v} | " + " | ".join(cells) + " |",
              flush=True)
    for name in ("imagenette-val", "tinyimagenet-val"):
        m = rows[0]["sets"][name]
        if "imagenet_lite_fd" in m:
                print(f"{name}: ImageNet top-1 of the real photos {m['imagenet_top1_real']:.3f}, of the gray ones "
                  f"{m['imagenet_top1_gray']:.3f}; ImageNet-Lite FD of the gray ones {m['imagenet_lite_fd_gray']:.1f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    on_imagenette = [dict(r["sets"]["imagenette-val"], row=r) for r in rows[1:]]
    choice = choose(on_imagenette, rows[0]["sets"]["imagenette-val"])
    if choice is None:
        print("\nchosen by the rule: none (no candidate is better than the bundled model on both counts on imagenette-val)")
        return
    chosen = choice["row"]
    mine = chosen["sets"]["imagenette-val"]
    print(f"\nchosen by the rule: {chosen['model']} at render size {chosen['render_size']}"
          + (f", temperature {chosen['temperature']}, vividness {chosen['vividness']}" if chosen["temperature"] else "")
          + " (better than the bundled model on both counts on imagenette-val)")
    if args.bundle:
        card = {"trained_with": args.command, "machine": cpu, "render_size_rule": __doc__.split("THE RULE")[1].strip(),
                "metrics_full_size": dict(chosen["sets"]["imagenette-val"],
                                          set=f"{mine['n_photos']} Imagenette val photos (128 px) through predict"),
                "metrics_by_set": chosen["sets"],
                "render_sizes": {str(r["render_size"]) + (f" T {r['temperature']} V {r['vividness']}" if r["temperature"] else ""): r["sets"]
                                 for r in rows if r["model"] == chosen["model"]}}
        path = bundle(Path(chosen["model"]), card, args.dest, render_size=chosen["render_size"],
                      temperature=chosen["temperature"], vividness=chosen["vividness"])
        print(f"bundled: {path}")


if __name__ == "__main__":
    main()
