"""Pictures of predictions: gray input | prediction(s) | ground truth, one sample per row."""

import csv
from pathlib import Path

import torch
from matplotlib.figure import Figure

from ..files import atomic_write


def prediction_grid(columns: dict[str, torch.Tensor], path: Path, title: str | None = None) -> Path:
    """Save a labelled grid; `columns` maps a heading to (N,3,H,W) RGB in [0,1]. Pixels are drawn
    nearest-neighbour so 32x32 images stay crisp. Written to a temporary name, then renamed."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    fig = Figure(figsize=(1.3 * len(names), 1.3 * n + 0.4))  # no pyplot: leaves notebook backends alone
    axes = fig.subplots(n, len(names), squeeze=False)
    for col, name in enumerate(names):
        images = columns[name].detach().float().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy()
        axes[0, col].set_title(name, fontsize=9)
        for row in range(n):
            axes[row, col].imshow(images[row], interpolation="nearest")
            axes[row, col].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: Path) -> Path:
    """Lay out (unless the figure has its own layout engine), then write under a temporary name
    and rename: no half-written pictures."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    with atomic_write(path, keep_suffix=True) as tmp:  # matplotlib takes the format from the suffix
        fig.savefig(tmp, dpi=100)
    return Path(path)


def training_curves(curves: dict[str, list[tuple[float, float, float]]], path: Path) -> Path:
    """One plot of training curves: per run (epoch, train loss, val PSNR) rows; train loss on a
    log scale (each method has its own objective), val PSNR beside it."""
    fig = Figure(figsize=(12, 4), layout="constrained")
    loss_ax, psnr_ax = fig.subplots(1, 2)
    for name, rows in curves.items():
        if not rows:
            continue
        epochs, loss, psnr = zip(*rows)
        style = "--" if "random" in name else "-"
        loss_ax.plot(epochs, loss, style, marker=".", label=name)
        psnr_ax.plot(epochs, psnr, style, marker=".", label=name)
    loss_ax.set(xlabel="epoch", ylabel="train loss (own objective)", yscale="log", title="training loss")
    psnr_ax.set(xlabel="epoch", ylabel="val PSNR (dB)", title="validation PSNR")
    psnr_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: never over a curve
    return save_figure(fig, path)


def joint_phase_curves(history: Path, chosen: int, val_every: int, psnr_floor: float | None,
                       truth_colorfulness: float | None, path: Path) -> Path:
    """NoGAN's joint phase at each validation (row `chosen` marked): val PSNR with the floor the
    checkpoint rule keeps to, colourfulness with the real images' level, and FCD."""
    with open(history) as f:
        rows = [r for r in csv.DictReader(f) if r.get("psnr") not in (None, "", "None")]
    batches = [(int(r["epoch"]) + 1) * val_every for r in rows]
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    panels = [("psnr", "val PSNR (dB)", psnr_floor, "PSNR floor"),
              ("colorfulness", "colourfulness (val subset)", truth_colorfulness, "real images"),
              ("fcd", "FCD (val subset)", None, None)]
    for ax, (key, label, level, level_name) in zip(fig.subplots(1, 3), panels):
        if rows and key in rows[0]:  # colourfulness and FCD are logged when a classifier is there
            ax.plot(batches, [float(r[key]) for r in rows], marker=".")
        if level is not None:
            ax.axhline(level, color="grey", linestyle=":", label=level_name)
        if rows:
            ax.axvline(batches[chosen], color="tab:red", linestyle="--", label="exported")
        ax.set(xlabel="joint-phase batches", title=label)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def colour_against_psnr(lines: dict[str, tuple[list[dict], str]], gray_psnr: float, path: Path, title: str) -> Path:
    """Lines of (PSNR, colourfulness / truth's) points, {name: (points, key)}, each point named by
    its `key` value (a decoding temperature, a setting): where along the colour / PSNR trade a
    method can sit, with the gray input's PSNR and the truth's colourfulness marked."""
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    for name, (points, key) in lines.items():
        ax.plot([p["psnr"] for p in points], [p["colourfulness_ratio"] for p in points], marker="o", label=name)
        for p in points:
            ax.annotate(f"{'V' if key == 'vividness' else key} {p[key]:g}", (p["psnr"], p["colourfulness_ratio"]),
                        fontsize=8, textcoords="offset points", xytext=(4, 4))
    ax.axvline(gray_psnr, color="grey", linestyle=":", label="gray input's PSNR")
    ax.axhline(1.0, color="tab:green", linestyle="--", label="truth's colourfulness")
    ax.set(xlabel="val PSNR (dB)", ylabel="colourfulness / truth's", title=title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
