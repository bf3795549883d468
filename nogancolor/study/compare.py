"""The study in one call (`nogancolor compare`): train every compared method of the registry on
both splits (and seeds), evaluate each on validation and test, and write reports/<name>/ with the
metric table, the comparison figures, training curves, the methods' own figures and checkpoint
rules, the commands, versions and hardware. It names no method: what the report needs from one
comes from its Method class (train/method.py).

A profile (profiles.py) is each method's config at one scale, as the method declares it. Runs live in runs/compare-<profile>/<method>-<config hash>/<split>-s<seed>/
(the classifier in classifier-<config hash>/); a run whose export exists is skipped, an interrupted
one resumes, so a killed compare goes on where it stopped. The hash of a method's training config
(and of the classifier's, for a method that trains on it) keeps runs of other configs from being
reused, and lets a profile change one method without retraining the others (`n_eval` is left out:
evaluation never needs a retrain).
"""

import csv
import json
import platform
import shlex
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from fastai.torch_core import default_device

from ..color import lab_to_model, model_to_rgb, rgb_to_lab
from ..data import load_prepared
from ..data.errors import DatasetError
from ..evaluation.evaluate import (
    classifier_reference,
    evaluate_checkpoint,
    evaluation_images,
    imagenet_reference,
)
from ..evaluation.figures import prediction_grid, training_curves
from ..files import project_path
from ..methods import REGISTRY, by_rank
from ..methods.classifier import ClassifierMethod
from ..models import load_generator
from ..models.classifier import load_classifier
from ..train.learner import cpu_name
from ..train.run import check_time, continue_run, time_budget
from .profiles import SPLITS, Profile



METRICS = [("ab_mse", "ab MSE", ".5f"), ("psnr", "PSNR (dB)", ".2f"), ("ssim", "SSIM", ".4f"), ("auc", "AuC", ".4f"),
           ("colorfulness_pred", "colorfulness", ".1f"), ("accuracy_colorized", "classifier acc.", ".3f"),
           ("frechet_classifier_distance", "FCD", ".2f"), ("imagenet_lite_fd", "IN-Lite FD", ".2f"),
           ("imagenet_lite_kid", "IN-Lite KID", ".4f"), ("imagenet_top1_colorized", "ImageNet top-1", ".3f")]


RUN_SETTINGS = ("data", "split", "seed", "classifier")  # what the study sets in each run's config


def shown_record(profile: Profile) -> dict:
    """The profile's record without the settings the study sets itself (RUN_SETTINGS; the
    classifier's data), whose defaults would only mislead a report's reader."""
    record = profile.record()
    record["classifier"] = {k: v for k, v in record["classifier"].items() if k != "data"}
    for method in profile.configs:
        record[method] = {k: v for k, v in record[method].items() if k not in RUN_SETTINGS}
    return record


def run_config(config, data: Path, split: str, seed: int, classifier: Path):
    """A method's config of the profile, set for one run of the study (those of RUN_SETTINGS it has)."""
    values = dict(zip(RUN_SETTINGS, (str(data), split, seed, str(classifier))))
    return replace(config, **{k: v for k, v in values.items() if hasattr(config, k)})


def compare(data: Path, profile: Profile, seeds=(0,), out: Path | None = None, runs: Path = Path("runs"),
            force: bool = False, budget: float | None = None, compile: bool = False, **console) -> Path:
    """Train, evaluate and report; -> the report directory. With `budget` (seconds), training
    stops at the last epoch boundary that fits and OutOfTime is raised; the same call continues
    from there. `compile`: torch.compile the models (speed only: not part of the configs hash).
    `console`: progress (bars), log (a print function), command (as the report shows it)."""
    with time_budget(budget):
        return _compare(data, profile, seeds, Path(out or Path("reports") / profile.name), Path(runs), force, compile,
                        console)


def _compare(data, profile: Profile, seeds, out: Path, runs: Path, force, compile, console: dict) -> Path:
    progress, log, command = console.get("progress", True), console.get("log", print), console.get("command")
    start, device = time.time(), default_device()  # evaluation where training ran: the GPU when there is one
    out.mkdir(parents=True, exist_ok=True)
    methods = methods_of(profile)
    jobs = [(seed, split, method) for seed in seeds for split in SPLITS for method in methods]
    check_size(data, profile)
    log(f"[0/{len(jobs) + 1}] colour classifier (feature loss and evaluation)")
    classifier = profile.run_folder(runs) / "model.safetensors"
    continue_run(ClassifierMethod(replace(profile.classifier, data=str(data)), classifier.parent), force=force,
                 progress=progress)
    folders = {m: profile.run_folder(runs, m) for m in methods}
    records, timings, references = [], {}, {}
    for i, (seed, split, method) in enumerate(jobs, 1):
        run = folders[method] / f"{split}-s{seed}"
        log(f"[{i}/{len(jobs) + 1}] {REGISTRY[method].label}, {split} split, seed {seed} -> {run} "
            f"({(time.time() - start) / 60:.1f} min into this call)")
        t0 = time.time()
        config = run_config(profile.configs[method], data, split, seed, classifier)
        REGISTRY[method].study(config, run, force=force, progress=progress, compile=compile)
        timings[str(run)] = time.time() - t0
        check_time(f"evaluating {run}")
        for which in ("val", "test"):
            key = (split if which == "val" else None, which)
            if key not in references:  # the judges' view of real and gray images: once per set
                images = evaluation_images(data, split, which, profile.n_eval)
                references[key] = (classifier_reference(load_classifier(classifier)[0], *images, device=device),
                                   imagenet_reference(*images, data, which, device=device))
            records.append(evaluate_checkpoint(run / "model.safetensors", data, which, classifier=classifier,
                                               out=out / "raw" / f"{method}-{split}-s{seed}-{which}",
                                               reference=references[key][0], imagenet=references[key][1],
                                               n_images=profile.n_eval, device=device))
    for split in SPLITS:
        comparison_figure(data, split, {m: folders[m] / f"{split}-s{seeds[0]}" / "model.safetensors" for m in methods},
                          out / f"comparison-{split}", seed=seeds[0])
    figures = []  # the methods' own figures, of seed 0's run on each split
    for m in methods:
        for split in SPLITS:
            for stem, (path, caption) in REGISTRY[m].method.figures(folders[m] / f"{split}-s{seeds[0]}").items():
                shutil.copyfile(path, out / f"{stem}-{split}.png")
                figures.append((f"{stem}-{split}.png", f"{caption}, {split} split, seed {seeds[0]}"))
    curves = {f"{REGISTRY[m].label} ({split})": REGISTRY[m].method.history(folders[m] / f"{split}-s{seeds[0]}")
              for m in methods for split in SPLITS}
    training_curves(curves, out / "training_curves.png")
    write_report(out, records, profile, seeds, data, time.time() - start, timings, command, figures)
    return out


def methods_of(profile: Profile) -> list[str]:
    """The registered methods the profile sets, in the reports' order."""
    return [r.name for r in by_rank() if r.name in profile.configs]


def check_size(data: Path, profile: Profile) -> None:
    """Refuse data prepared at another size than the profile's: its speed and its report's
    claims hold at that size only."""
    prepared = load_prepared(data)[2]["size"]  # an unprepared folder gets load_prepared's own one-line error
    if prepared != profile.size:
        raise DatasetError(f"the {profile.name} profile trains on images prepared at {profile.size} px; {data} holds "
                           f"{prepared} px ones: run `nogancolor data prepare --size {profile.size}` into another folder")


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
            columns[REGISTRY[method].label] = model_to_rgb(l_norm, load_generator(path)[0](l_norm))
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
        for method in [r.name for r in by_rank()]:
            rows = [r for r in records if r["set"] == which and r["split"] == split and r["method"] == method]
            if not rows:
                continue
            cells = [REGISTRY[method].label, split, str(len(rows))]
            cells += [_mean_std([r[key] for r in rows], fmt) if key in rows[0] else "-" for key, _, fmt in METRICS]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for split in SPLITS if which == "val" else SPLITS[:1]:
        reference = [r for r in records if r["set"] == which and (which == "test" or r["split"] == split)]
        if reference and "accuracy_real" in reference[0]:
            where = f"{split} split's validation images" if which == "val" else "test images"
            lines.append(f"Ground truth, {where}: classifier accuracy {reference[0]['accuracy_real']:.3f} on the real "
                         f"colour images, {reference[0]['accuracy_gray']:.3f} on the gray ones; colorfulness "
                         f"{reference[0]['colorfulness_true']:.1f}" + (
                             f"; ImageNet top-1 {reference[0]['imagenet_top1_real']:.3f} on the real, "
                             f"{reference[0]['imagenet_top1_gray']:.3f} on the gray ones" if "imagenet_top1_real" in
                             reference[0] else "") + (
                             f"; the gray images' IN-Lite FD {reference[0]['imagenet_lite_fd_gray']:.2f}, KID "
                             f"{reference[0]['imagenet_lite_kid_gray']:.4f}" if "imagenet_lite_fd_gray" in reference[0]
                             else "") + ".  ")
    return "\n".join(lines)


def checkpoint_rules(methods) -> str:
    """The report's paragraph on which checkpoint each run exports, from each method's own rule."""
    rules = [f"{REGISTRY[m].label}: {REGISTRY[m].method.checkpoint_rule}" for m in methods]
    return ("Which checkpoint each run exports: " + "; ".join(rules) + "; the classifier: "
            f"{REGISTRY['classifier'].method.checkpoint_rule}.")


def write_report(out: Path, records: list[dict], profile: Profile, seeds, data: Path, wall: float, timings: dict,
                 command: str | None, figures: list[tuple[str, str]] = ()):
    """report.md + all_metrics.csv/json in `out`; `figures`: the methods' own, (file, caption)."""
    import fastai

    (out / "all_metrics.json").write_text(json.dumps(records, indent=1) + "\n")
    with (out / "all_metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU only, {torch.get_num_threads()} threads"
    dataset = records[0]["dataset"]
    lines = [
        f"# Colorization comparison: profile `{profile.name}`",
        "",
        f"Dataset: `{Path(dataset).name}` (`{project_path(dataset)}`, {records[0]['dataset_files']} files; prepared at "
        f"`{project_path(data)}`). Seeds: {', '.join(map(str, seeds))}. Profile configs (the data, and each run's split, "
        f"seed and classifier, are the study's): `{json.dumps(shown_record(profile))}`.",
        "",
        f"Command: `{command or ' '.join(map(shlex.quote, sys.argv))}`",
        "",
        f"Machine: {cpu_name()}, {device}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, fastai {fastai.__version__}. Wall time of this call: {wall / 60:.1f} min "
        "(runs done by an earlier call are reused, not retrained).",
        "",
        f"Classifier (feature loss, accuracy and FCD): `{project_path(records[0]['classifier'])}`, top-1 "
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
        f"AuC of the cumulative per-pixel ab error over 0-150 (Zhang et al. 2016); classifier acc. = top-1 of the project's "
        f"colour classifier, trained on the same {Path(dataset).name} training images, on the colorized images; FCD = "
        "Frechet distance in that classifier's feature space (not Inception FID). IN-Lite FD and KID: the Frechet and "
        "kernel (KID formula) distances between real and colorized images in the pooled 1/16-scale features of the "
        "offline ImageNet EfficientNet-Lite0 (images resized to twice their size, at most 128 px), a network no method "
        "here trains (the gray images' distances, under the tables, are the floor to beat); ImageNet "
        "top-1: its accuracy on the colorized images, where the dataset's classes are ImageNet's. Neither is "
        "Inception's FID or KID.",
        "",
        "## Figures",
        "",
        *[f"![{split}](comparison-{split}.png)" for split in SPLITS],
        "",
        "![training curves](training_curves.png)",
        "",
        *[line for file, caption in figures for line in (f"{caption}:", "", f"![{caption}]({file})", "")],
        "## Methods",
        "",
        *[f"- {REGISTRY[m].label}: {REGISTRY[m].method.kind}." for m in methods_of(profile) if REGISTRY[m].method.kind],
        "",
        "## Schedule and checkpoints",
        "",
        checkpoint_rules(methods_of(profile)),
        "",
        "## Training time per run",
        "",
        "Sum of the epoch times in the run's history.csv files (all calls, a resumed run included), "
        "and the wall time this call spent on it (training if needed, and export; its evaluation is not counted):",
        "",
        *[f"- `{project_path(run)}`: {training_seconds(Path(run)) / 60:.1f} min of epochs; this call {seconds / 60:.1f} min"
          for run, seconds in timings.items()],
        "",
        "Raw numbers: `all_metrics.csv`, `all_metrics.json`, `raw/`.",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
