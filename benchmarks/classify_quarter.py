"""Should colour classification predict at a quarter of the resolution, as Zhang et al. do?
Their net outputs its bin distribution at H/4 x W/4 and the ab are upsampled; ours predicts every
pixel. Two numbers decide, per compared profile:

- speed: one training step (forward, Zhang et al.'s loss, backward, Adam) of the profile's
  classification generator, with the loss on every pixel, on its logits and the truth's ab each
  4x average-pooled (what a quarter-resolution loss saves; the network's own cost stays), and
  with no loss at all (the floor: the network alone);
- quality ceiling: the RGB PSNR of the val images with their own ab pooled to a quarter and
  upsampled bilinearly (no model can do better at a quarter of the resolution), beside the gray
  input's.

    python benchmarks/classify_quarter.py --cifar data/cifar10 --photos data/photos-64 [--steps 5]

Precision as `--precision auto` picks it. The generator's weights are random: speed only.
"""

import argparse
import time

import torch
import torch.nn.functional as F

from nogancolor.color import model_to_rgb
from nogancolor.data.ab_prior import ab_counts
from nogancolor.data.dataloaders import colorization_dls
from nogancolor.evaluation.metrics import psnr
from nogancolor.methods.base import REGISTRY
from nogancolor.models.bins import ColourBins, RebalancedSoftCE
from nogancolor.models.generator import build_generator
from nogancolor.train.learner import cpu_name, resolve_precision

STRIDE = 4  # Zhang et al.: the distribution at a quarter of the input's side (`train classify --stride 4`)


def step_times(config, data, size: int, steps: int) -> dict[str, float]:
    """Best-of-`steps` seconds of one training step per loss placement."""
    dls = colorization_dls(data, config.split, bs=config.bs, n_train=config.bs * 2, n_val=config.bs, size=size)
    l_norm, ab_norm = dls.one_batch()
    bins = ColourBins(ab_counts(data, config.split, config.bin_size).numpy(), config.bin_size, config.sigma,
                      config.rebalance)
    kwargs = {"base": config.base} if config.arch == "unet" else {}
    net = build_generator(config.arch, (size, size), output="bins", n_bins=len(bins), **kwargs).net
    loss, quarter = (RebalancedSoftCE(bins, config.neighbours, config.sigma, stride) for stride in (1, STRIDE))
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    bf16 = resolve_precision("auto", "cpu") == "bf16"
    losses = {"every pixel": lambda logits: loss(logits, ab_norm),
              "quarter": lambda logits: quarter(logits, ab_norm),
              "none (network only)": lambda logits: logits.float().mean()}
    best = {}
    for _ in range(steps + 1):  # the first round warms up
        for name, loss_of in losses.items():
            start = time.perf_counter()
            opt.zero_grad()
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                logits = net(l_norm)
            loss_of(logits).backward()
            opt.step()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    return best


def quality_ceiling(data, split: str, size: int, n_val: int = 1000) -> tuple[float, float]:
    """(mean PSNR of the val images with their ab at a quarter of the resolution, of the gray input)."""
    dls = colorization_dls(data, split, bs=100, n_train=100, n_val=n_val, size=size)
    quarter = gray = n = 0.0
    for l_norm, ab_norm in dls.valid:
        truth = model_to_rgb(l_norm, ab_norm)
        coarse = F.interpolate(F.avg_pool2d(ab_norm, STRIDE), scale_factor=STRIDE, mode="bilinear", align_corners=False)
        quarter += psnr(model_to_rgb(l_norm, coarse), truth).sum().item()
        gray += psnr(model_to_rgb(l_norm, torch.zeros_like(ab_norm)), truth).sum().item()
        n += len(l_norm)
    return quarter / n, gray / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cifar", help="prepared CIFAR-10 (the quick profile)")
    ap.add_argument("--photos", help="prepared photos at 64 px (the photo and photo-pretrained profiles)")
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, "
          f"precision {resolve_precision('auto', 'cpu')}")
    profiles = [("quick", args.cifar, 32), ("photo", args.photos, 64), ("photo-pretrained", args.photos, 64)]
    for profile, data, size in profiles:
        if data is None:
            continue
        config = REGISTRY["classify"].method.profiles[profile]
        times = step_times(config, data, size, args.steps)
        full, floor = times["every pixel"], times["none (network only)"]
        print(f"{profile} ({config.arch}, {size} px, batch {config.bs}): " +
              ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items()) +
              f"; the loss is {(full - floor) / full:.0%} of the step, a quarter-resolution step takes "
              f"{times['quarter'] / full:.2f}x")
    for name, data, size in [("CIFAR-10", args.cifar, 32), ("photos", args.photos, 64)]:
        if data is not None:
            ceiling, gray = quality_ceiling(data, "hue", size)
            print(f"{name} hue val at {size} px: ab at a quarter of the resolution {ceiling:.2f} dB at best, "
                  f"gray input {gray:.2f} dB")


if __name__ == "__main__":
    main()
