"""Which method gives more colour per dB: colour classification's decoding lines (temperature T,
and vividness V at the default T) against NoGAN's joint phase, each validation of it a point, in one figure (val PSNR against
colourfulness over the truth's), with the U-Net's and the gray input's PSNR marked.

    python benchmarks/colour_per_db.py --classify runs/compare-quick/classify-*/hue-s0 \\
        --nogan runs/compare-quick/nogan-*/hue-s0 --unet runs/compare-quick/unet-*/hue-s0 --out colour-per-db.png

Reads the finished runs only (no training, no evaluation): the classification export's
`temperature_sweep` and `vividness_sweep` (its val set) and NoGAN's joint-phase history (val PSNR, and colourfulness
on its fixed val subset, over that subset's truth). With the quick profile's n_val 1,000 and
n_realism 1,000 both lines are measured on the same 1,000 validation images.
"""

import argparse
import csv
import json
from pathlib import Path

from matplotlib.figure import Figure


def classify_line(run: Path) -> tuple[list[float], list[float], list[float], float]:
    record = json.loads((run / "model.json").read_text())
    sweep = record["temperature_sweep"]
    points = sweep["points"]
    return ([p["psnr"] for p in points], [p["colourfulness_ratio"] for p in points], [p["T"] for p in points],
            sweep["val_psnr_gray_output"])


def vividness_line(run: Path) -> tuple[list[float], list[float], list[float]]:
    """The export's `vividness_sweep` at its default T (exports of 2026-12-03 on; else empty)."""
    points = json.loads((run / "model.json").read_text()).get("vividness_sweep", {}).get("points", [])
    return [p["psnr"] for p in points], [p["colourfulness_ratio"] for p in points], [p["vividness"] for p in points]


def nogan_line(run: Path) -> tuple[list[float], list[float], int]:
    """NoGAN's validations (PSNR, colourfulness over the truth's) and the exported one's index in them."""
    record = json.loads((run / "model.json").read_text())
    with open(run / "3-gan" / "history.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("colorfulness") not in (None, "", "None")]
    truth = record["val_subset_colorfulness_true"]
    return ([float(r["psnr"]) for r in rows], [float(r["colorfulness"]) / truth for r in rows],
            record["chosen_validation"] - 1)  # counted from 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classify", type=Path, required=True)
    ap.add_argument("--nogan", type=Path, required=True)
    ap.add_argument("--unet", type=Path, default=None)
    ap.add_argument("--title", default="")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    fig = Figure(figsize=(7, 4.6))
    ax = fig.subplots()
    psnr, colour, temperatures, gray = classify_line(args.classify)
    ax.plot(psnr, colour, marker="o", label="classification, one point per decoding temperature T")
    for x, y, t in zip(psnr, colour, temperatures):
        ax.annotate(f"T {t:g}", (x, y), fontsize=7, textcoords="offset points", xytext=(4, 3))
    psnr, colour, vividness = vividness_line(args.classify)
    if psnr:
        ax.plot(psnr, colour, marker="s", color="tab:purple", label="classification at its default T, one point per vividness V")
        for x, y, v in zip(psnr, colour, vividness):
            ax.annotate(f"V {v:g}", (x, y), fontsize=7, textcoords="offset points", xytext=(4, -9))
    psnr, colour, chosen = nogan_line(args.nogan)
    ax.plot(psnr, colour, marker=".", color="tab:orange", label="NoGAN's joint phase, one point per validation")
    ax.plot([psnr[chosen]], [colour[chosen]], marker="*", markersize=14, linestyle="", color="tab:orange",
            label="NoGAN exported")
    ax.axvline(gray, color="grey", linestyle=":", label="gray input")
    if args.unet:
        ax.axvline(json.loads((args.unet / "model.json").read_text())["metrics"]["val_psnr"], color="black",
                   linestyle="--", label="U-Net")
    ax.axhline(1.0, color="tab:green", linestyle="--", linewidth=0.8, label="truth's colourfulness")
    ax.set(xlabel="val PSNR (dB)", ylabel="colourfulness / truth's", title=args.title or "colour per dB")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
