"""The study in one call (`nogancolor compare`): train U-Net, conditional DCGAN and NoGAN on both
splits (and seeds), evaluate each on validation and test, and write reports/<name>/ with the
metric table, the comparison figures, training curves, the commands, versions and hardware.

Runs live in runs/compare-<profile>-<settings hash>/<method>-<split>-s<seed>/; a run whose export
exists is skipped, an interrupted one resumes, so a killed compare goes on where it stopped. The
hash of the profile's training settings in the folder name keeps runs of other settings from being
reused (evaluation settings such as `n_eval` are left out of it: they never need a retrain).
"""

import csv
import hashlib
import json
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from fastai.torch_core import default_device

from .callbacks import SaveLastCallback
from .classify import load_classifier, train_classifier
from .color import lab_to_model, model_to_rgb, rgb_to_lab
from .evaluate import classifier_reference, evaluate_checkpoint, evaluation_images
from .export import load_generator
from .figures import prediction_grid, training_curves
from .learner import CHECKPOINT_DIR
from .nogan import train_nogan
from .training import check_time, time_budget, train_dcgan, train_unet

METHODS = ("unet", "dcgan", "nogan")
LABELS = {"unet": "U-Net", "dcgan": "DCGAN", "nogan": "NoGAN"}
SPLITS = ("hue", "random")
PROFILES = {
    # a subset and few epochs: under 15 minutes on a 2-core CPU
    "quick": {"n_train": 4000, "n_val": 1000, "n_eval": 2000, "classifier": {"epochs": 3, "n_train": 10000},
              "unet": {"epochs": 3}, "dcgan": {"epochs": 3},
              "nogan": {"gen_epochs": 2, "critic_epochs": 1, "gan_epochs": 2, "val_every": 10}},
    # the method descriptions' scale: all images, tens of epochs. Batches of 256 keep a GPU busy
    # (at 64 its steps are launch-bound); the regressors' Adam learning rates scale by
    # sqrt(256 / 64) = 2, the GAN phases keep theirs (docs/usage.md, "Batch size and learning
    # rate"). The U-Net's 10 epochs come from its validation curves (docs/results): at 64 it
    # overfit after the 8th of 20 epochs; at 256 its 7th of 10 is as good (val MSE 0.01116).
    "full": {"n_train": None, "n_val": None, "n_eval": None, "classifier": {"epochs": 15, "n_train": None},
             "unet": {"epochs": 10, "bs": 256, "lr": 4e-3}, "dcgan": {"epochs": 20, "bs": 256},
             "nogan": {"gen_epochs": 10, "gen_lr": 4e-3, "critic_epochs": 3, "critic_lr": 2e-3, "gan_epochs": 2,
                       "val_every": 10, "bs": 256}},
}
CHECKPOINTS = ("Which checkpoint each run exports: the U-Net and NoGAN's generator pretraining keep the epoch with the "
               "lowest validation loss (on all 44,430 training images the U-Net overfits after its 8th of 20 epochs, so "
               "the last epoch would understate the method); NoGAN's joint phase exports the checkpoint with the lowest FCD on a "
               "fixed validation subset among those whose val PSNR stays within 1 dB of its pretrained generator's "
               "(`--select fcd`, `--max-psnr-drop 1`; curves below); the "
               "DCGAN its last epoch (GAN losses do not rank checkpoints); the classifier its last epoch (its validation "
               "set is the test set, which must not pick checkpoints).")
METRICS = [("ab_mse", "ab MSE", ".5f"), ("psnr", "PSNR (dB)", ".2f"), ("ssim", "SSIM", ".4f"), ("auc", "AuC", ".4f"),
           ("colorfulness_pred", "colorfulness", ".1f"), ("accuracy_colorized", "classifier acc.", ".3f"),
           ("frechet_classifier_distance", "FCD", ".2f")]


def _train(method: str, run: Path, data: Path, split: str, seed: int, settings: dict, force: bool, progress: bool,
           compile: bool = False):
    """Train one method into `run` unless its export exists; resume an interrupted run."""
    common = dict(split=split, n_train=settings["n_train"], n_val=settings["n_val"], seed=seed, progress=progress,
                  compile=compile)
    if method == "nogan":
        return train_nogan(data, run, force=force, classifier=run.parent / "classifier" / "model.safetensors",
                           log=lambda m: None, **common, **settings["nogan"])[3]
    if (run / "model.json").exists() and not force:
        return json.loads((run / "model.json").read_text())
    resume = not force and SaveLastCallback.state_path(run / CHECKPOINT_DIR).exists()
    train = train_unet if method == "unet" else train_dcgan
    return train(data, run, resume=resume, force=not resume, **common, **settings[method])


def compare(data: Path, profile: str = "quick", seeds=(0,), out: Path | None = None, runs: Path = Path("runs"),
            force: bool = False, progress: bool = True, log=print, command: str | None = None,
            settings: dict | None = None, budget: float | None = None, compile: bool = False) -> Path:
    """Train, evaluate and report; -> the report directory. `settings` replaces the profile's
    (tests use a tiny one). With `budget` (seconds), training stops at the last epoch boundary
    that fits and OutOfTime is raised; the same call continues from there. `compile`:
    torch.compile the models (speed only: not part of the runs' settings hash)."""
    if profile not in PROFILES and settings is None:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    with time_budget(budget):
        return _compare(data, profile, seeds, out, runs, force, progress, log, command, settings or PROFILES[profile],
                        compile)


def _compare(data, profile, seeds, out, runs, force, progress, log, command, settings, compile) -> Path:
    start, device = time.time(), default_device()  # evaluation where training ran: the GPU when there is one
    root, out = Path(runs) / f"compare-{profile}-{settings_digest(settings)}", Path(out or Path("reports") / profile)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(seed, split, method) for seed in seeds for split in SPLITS for method in METHODS]
    log(f"[0/{len(jobs) + 1}] CIFAR-10 classifier (feature loss and evaluation)")
    classifier = root / "classifier" / "model.safetensors"
    if force or not classifier.with_suffix(".json").exists():
        clf = root / "classifier"
        resume = not force and SaveLastCallback.state_path(clf / CHECKPOINT_DIR).exists()
        train_classifier(data, clf, resume=resume, force=not resume, progress=progress, **settings["classifier"])
    records, timings, references = [], {}, {}
    for i, (seed, split, method) in enumerate(jobs, 1):
        run = root / f"{method}-{split}-s{seed}"
        log(f"[{i}/{len(jobs) + 1}] {LABELS[method]}, {split} split, seed {seed} -> {run} "
            f"({(time.time() - start) / 60:.1f} min into this call)")
        t0 = time.time()
        _train(method, run, data, split, seed, settings, force, progress, compile)
        timings[str(run)] = time.time() - t0
        check_time(f"evaluating {run}")
        for which in ("val", "test"):
            key = (split if which == "val" else None, which)
            if key not in references:  # the classifier's view of real and gray images: once per set
                images = evaluation_images(data, split, which, settings.get("n_eval"))
                references[key] = classifier_reference(load_classifier(classifier)[0], *images, device=device)
            records.append(evaluate_checkpoint(run / "model.safetensors", data, which, classifier=classifier,
                                               out=out / "raw" / f"{run.name}-{which}", reference=references[key],
                                               n_images=settings.get("n_eval"), device=device))
    for split in SPLITS:
        comparison_figure(data, split, {m: root / f"{m}-{split}-s{seeds[0]}" / "model.safetensors" for m in METHODS},
                          out / f"comparison-{split}", seed=seeds[0])
    for split in SPLITS:  # the joint phase's curves with the exported checkpoint marked
        shutil.copyfile(root / f"nogan-{split}-s{seeds[0]}" / "3-gan" / "joint_phase.png", out / f"joint-phase-{split}.png")
    curves = {f"{LABELS[m]} ({split})": history_psnr(root / f"{m}-{split}-s{seeds[0]}") for m in METHODS for split in SPLITS}
    training_curves(curves, out / "training_curves.png")
    write_report(out, records, profile, settings, seeds, data, time.time() - start, timings, command)
    return out


def settings_digest(settings: dict) -> str:
    """Hash of the training settings that names a profile's run folder (evaluation settings such
    as `n_eval` never need a retrain, so they are left out)."""
    training = {k: v for k, v in settings.items() if k != "n_eval"}
    return hashlib.sha256(json.dumps(training, sort_keys=True).encode()).hexdigest()[:8]


def history_psnr(run: Path) -> list[tuple[float, float, float]]:
    """(epoch, train loss, val PSNR) rows of a run; NoGAN's joint phase continues after its
    pretraining epochs at fractional epochs."""
    def rows(path):
        with open(path) as f:
            return [r for r in csv.DictReader(f) if r["psnr"] not in ("", "None")]

    if (run / "1-generator").is_dir():
        first = [(int(r["epoch"]) + 1, float(r["train_loss"]), float(r["psnr"])) for r in rows(run / "1-generator" / "history.csv")]
        config = json.loads((run / "model.json").read_text())
        chunks = rows(run / "3-gan" / "history.csv")
        step = config["gan_epochs"] / max(len(chunks), 1)
        return first + [(len(first) + step * (i + 1), float(r["train_loss"]), float(r["psnr"])) for i, r in enumerate(chunks)]
    return [(int(r["epoch"]) + 1, float(r["train_loss"]), float(r["psnr"])) for r in rows(run / "history.csv")]


def training_seconds(run: Path) -> float:
    """Seconds of training a run recorded, over every stage and every call that trained it."""
    total = 0.0
    for path in sorted(Path(run).glob("**/history.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                parts = [int(p) for p in row["time"].split(":")]  # fastai writes mm:ss or h:mm:ss
                total += sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return total


def comparison_figure(data: Path, split: str, checkpoints: dict[str, Path], stem: Path, n: int = 8, seed: int = 0):
    """The method description's figure: the same randomly chosen validation images (seeded) in
    rows; gray input | each method | ground truth in columns; PNG and PDF."""
    images, _ = evaluation_images(data, split, "val")
    picks = torch.from_numpy(np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False))
    l_norm, ab = lab_to_model(rgb_to_lab(images[picks].float() / 255))
    columns = {"gray input": model_to_rgb(l_norm, torch.zeros_like(ab))}
    with torch.no_grad():
        for method, path in checkpoints.items():
            columns[LABELS[method]] = model_to_rgb(l_norm, load_generator(path)[0](l_norm))
    columns["ground truth"] = model_to_rgb(l_norm, ab)
    for suffix in (".png", ".pdf"):
        prediction_grid(columns, Path(stem).with_suffix(suffix), title=f"{split} split, validation images")


def _sizes(records: list[dict], which: str) -> str:
    """How many images a set's rows were measured on, e.g. "2,000" (the quick profile uses a subset)."""
    return " / ".join(sorted({f"{r['n_images']:,}" for r in records if r["set"] == which}))


def _mean_std(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(float(np.mean(values)), fmt)} ± {format(float(np.std(values, ddof=1)), fmt)}"


def metric_table(records: list[dict], which: str) -> str:
    """Markdown table, one row per method and split, mean ± std over seeds."""
    head = ["method", "split", "seeds"] + [label for _, label, _ in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for split in SPLITS:
        for method in METHODS:
            rows = [r for r in records if r["set"] == which and r["split"] == split and r["method"] == method]
            if not rows:
                continue
            cells = [LABELS[method], split, str(len(rows))]
            cells += [_mean_std([r[key] for r in rows], fmt) if key in rows[0] else "-" for key, _, fmt in METRICS]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for split in SPLITS if which == "val" else SPLITS[:1]:
        reference = [r for r in records if r["set"] == which and (which == "test" or r["split"] == split)]
        if reference and "accuracy_real" in reference[0]:
            where = f"{split} split's validation images" if which == "val" else "test images"
            lines.append(f"Ground truth, {where}: classifier accuracy {reference[0]['accuracy_real']:.3f} on the real "
                         f"colour images, {reference[0]['accuracy_gray']:.3f} on the gray ones; colorfulness "
                         f"{reference[0]['colorfulness_true']:.1f}.  ")
    return "\n".join(lines)


def write_report(out: Path, records: list[dict], profile: str, settings: dict, seeds, data: Path, wall: float,
                 timings: dict, command: str | None):
    """report.md + all_metrics.csv/json in `out`."""
    import fastai

    (out / "all_metrics.json").write_text(json.dumps(records, indent=1) + "\n")
    with (out / "all_metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU only, {torch.get_num_threads()} threads"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), None) if Path("/proc/cpuinfo").exists() else None
    dataset = records[0]["dataset"]
    lines = [
        f"# Colorization comparison: profile `{profile}`",
        "",
        f"Dataset: `{dataset}` ({records[0]['dataset_files']} files; prepared at `{data}`). Seeds: {', '.join(map(str, seeds))}. "
        f"Profile settings: `{json.dumps(settings)}`.",
        "",
        f"Command: `{command or ' '.join(map(shlex.quote, sys.argv))}`",
        "",
        f"Machine: {cpu or platform.processor() or platform.machine()}, {device}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, fastai {fastai.__version__}. Wall time of this call: {wall / 60:.1f} min "
        "(runs done by an earlier call are reused, not retrained).",
        "",
        f"Classifier (feature loss, accuracy and FCD): `{records[0]['classifier']}`, top-1 "
        f"{records[0]['classifier_test_accuracy']:.3f} on all colour test images (its clean accuracy).",
        "",
        f"## Validation set ({_sizes(records, 'val')} images per split)",
        "",
        metric_table(records, "val"),
        "",
        f"## Official test set ({_sizes(records, 'test')} images)",
        "",
        metric_table(records, "test"),
        "",
        "ab MSE on the model scale (ab/110); PSNR, SSIM and colorfulness on the RGB picture of input L + predicted ab; "
        "AuC of the cumulative per-pixel ab error over 0-150 (Zhang et al. 2016); classifier acc. = top-1 of the project's "
        "CIFAR-10 classifier on the colorized images; FCD = Frechet distance in that classifier's feature space "
        "(not Inception FID).",
        "",
        "## Figures",
        "",
        *[f"![{split}](comparison-{split}.png)" for split in SPLITS],
        "",
        "![training curves](training_curves.png)",
        "",
        f"NoGAN's joint phase, seed {seeds[0]} (PSNR on the validation set; colourfulness and FCD on a fixed evenly "
        "spaced validation subset; dashed: the exported checkpoint):",
        "",
        *[f"![joint phase, {split} split](joint-phase-{split}.png)" for split in SPLITS],
        "",
        "## Schedule and checkpoints",
        "",
        CHECKPOINTS,
        "",
        "## Training time per run",
        "",
        "Sum of the epoch times in the run's history.csv files (all calls, a resumed run included), "
        "and the wall time this call spent on it (training if needed, export, evaluation):",
        "",
        *[f"- `{run}`: {training_seconds(Path(run)) / 60:.1f} min of epochs; this call {seconds / 60:.1f} min"
          for run, seconds in timings.items()],
        "",
        "Raw numbers: `all_metrics.csv`, `all_metrics.json`, `raw/`.",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
