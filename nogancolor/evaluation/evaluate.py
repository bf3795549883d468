"""Measure a trained generator on a whole validation or test set (`nogancolor evaluate`).

Every method is measured the same way on the picture a user sees (input L + predicted ab):

- ab MSE on the model's scale (the U-Net's loss) and PSNR / SSIM of the RGB picture (torchmetrics),
- AuC: area under the cumulative distribution of per-pixel ab error (Euclidean, CIE units) over
  thresholds 0..150, normalised to [0, 1] (Zhang et al. 2016, "Colorful Image Colorization"),
- colorfulness (Hasler & Suesstrunk 2003) of predictions and of the real images: washed-out
  outputs score far below the truth,
- semantic interpretability: top-1 accuracy of the project's classifier (trained on the same
  dataset: CIFAR-10 or photos) on colorized,
  real and gray images,
- Frechet classifier distance: the Frechet distance between Gaussians fitted to the classifier's
  pooled last-block features of real and colorized images. Same formula as FID, but in this
  small classifier's feature space, NOT Inception's: not comparable to published FIDs.
"""

import csv
import json
from pathlib import Path

import torch
from fastprogress.fastprogress import progress_bar
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from ..color import AB_SCALE, lab_to_model, model_to_rgb, rgb_to_lab
from ..data import DEFAULT_DATA_DIR, load_prepared, load_split, read_meta
from ..data.dataloaders import subsample
from ..data.splits import split_path
from ..files import project_path
from ..models import load_generator
from ..models.classifier import DEFAULT_CLASSIFIER, load_classifier
from .config import EVAL_BATCH
from .metrics import ab_error_cdf, classify, colorfulness, frechet_distance

SETS = ("val", "test")
@torch.no_grad()
def classifier_reference(classifier, images: torch.Tensor, labels: torch.Tensor, bs: int = EVAL_BATCH, device=None) -> dict:
    """What the classifier makes of a set's real colour and gray images: the same for every model
    evaluated on that set, so a comparison computes it once."""
    device = torch.device(device or "cpu")
    classifier = classifier.to(device).eval()
    correct_real = correct_gray = 0
    features = []
    for i in range(0, len(images), bs):  # counts and features stay on the device until the end
        rgb = images[i:i + bs].to(device).float() / 255
        l_norm, ab = lab_to_model(rgb_to_lab(rgb))
        y = labels[i:i + bs].to(device)
        logits, feats = classify(classifier, model_to_rgb(l_norm, ab))
        correct_real += (logits.argmax(1) == y).sum()
        correct_gray += (classifier(model_to_rgb(l_norm, torch.zeros_like(ab))).argmax(1) == y).sum()
        features.append(feats)
    return {"accuracy_real": int(correct_real) / len(images), "accuracy_gray": int(correct_gray) / len(images),
            "features_real": torch.cat(features).cpu().double().numpy()}


def evaluation_images(data: Path, split: str, which: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, labels) of the split's validation images or of the official test set;
    `n`: an evenly spaced subset of them (every class, the same images for every model)."""
    if which not in SETS:
        raise ValueError(f"unknown set {which!r}; choose one of {', '.join(SETS)}")
    if which == "test":
        images, labels, _ = load_prepared(data, "test")
        idx = torch.arange(len(images))
    else:
        images, labels, _ = load_prepared(data, "train")
        idx = load_split(split_path(data, split))[1]
    idx = subsample(idx, n)
    return images[idx], labels[idx]


@torch.no_grad()
def evaluate_generator(generator, images: torch.Tensor, labels: torch.Tensor, classifier=None, bs: int = EVAL_BATCH,
                       device=None, progress: bool = False, reference: dict | None = None) -> dict:
    """All metrics of `generator` (L -> scaled ab, eval mode) over uint8 `images` (N,3,H,W).
    `reference`: the set's `classifier_reference`, if already computed."""
    device = torch.device(device or "cpu")
    generator = generator.to(device).eval()
    if classifier is not None:
        classifier = classifier.to(device).eval()
        reference = reference or classifier_reference(classifier, images, labels, bs, device)
    sums = dict.fromkeys(("ab_mse", "psnr", "ssim", "colorfulness_pred", "colorfulness_true"), 0.0)
    cdf, correct, feats_pred = 0.0, 0, []
    batches = range(0, len(images), bs)
    for i in progress_bar(batches, leave=False) if progress else batches:  # sums stay on the device until the end
        rgb = images[i:i + bs].to(device).float() / 255
        l_norm, ab_true = lab_to_model(rgb_to_lab(rgb))
        ab_pred = generator(l_norm).float()
        pred_rgb, true_rgb = model_to_rgb(l_norm, ab_pred), model_to_rgb(l_norm, ab_true)
        n = len(rgb)
        sums["ab_mse"] += (ab_pred - ab_true).pow(2).flatten(1).mean(1).sum()
        sums["psnr"] += peak_signal_noise_ratio(pred_rgb, true_rgb, data_range=1.0, reduction="none", dim=(1, 2, 3)).sum()
        sums["ssim"] += structural_similarity_index_measure(pred_rgb, true_rgb, data_range=1.0, reduction="sum")
        sums["colorfulness_pred"] += colorfulness(pred_rgb).sum()
        sums["colorfulness_true"] += colorfulness(true_rgb).sum()
        cdf += ab_error_cdf(ab_pred * AB_SCALE, ab_true * AB_SCALE) * n
        if classifier is not None:
            logits, feats = classify(classifier, pred_rgb)
            correct += (logits.argmax(1) == labels[i:i + bs].to(device)).sum()
            feats_pred.append(feats)
    n = len(images)
    result = {k: float(v) / n for k, v in sums.items()}
    result["auc"] = float((cdf / n).mean())
    if classifier is not None:
        result.update(accuracy_colorized=int(correct) / n, accuracy_real=reference["accuracy_real"],
                      accuracy_gray=reference["accuracy_gray"])
        result["frechet_classifier_distance"] = frechet_distance(reference["features_real"],
                                                                 torch.cat(feats_pred).cpu().double().numpy())
    return result


def evaluate_checkpoint(checkpoint: Path, data: Path = DEFAULT_DATA_DIR, which: str = "val", split: str | None = None,
                        classifier: Path | None = DEFAULT_CLASSIFIER, out: Path | None = None, n_images: int | None = None,
                        **batches) -> dict:
    """Evaluate an exported generator on its own split's validation set (or `split`'s) or the
    test set (`n_images`: an evenly spaced subset of it); writes eval-<set>.json and .csv beside
    the checkpoint (or at `out`). -> the record. `batches`: bs, device, progress and reference
    for `evaluate_generator`."""
    generator, config = load_generator(checkpoint)
    data = Path(data)
    split = split or config.get("split", "hue")
    images, labels = evaluation_images(data, split, which, n_images)
    meta, model = read_meta(data), None
    if classifier is not None and Path(classifier).with_suffix(".json").exists():
        model, classifier_config = load_classifier(classifier)
    metrics = evaluate_generator(generator, images, labels, model, **batches)
    record = {"checkpoint": str(checkpoint), "method": config.get("method"), "split": split, "seed": config.get("seed"),
              "set": which, "n_images": len(images), "dataset": project_path(meta["source"]) if meta.get("source") else None,
              "dataset_files": ",".join(meta.get("subsets", {}).get("test" if which == "test" else "train", {})
                                        .get("file_types", ["unknown"])),
              "classifier": str(classifier) if model is not None else None,
              "classifier_test_accuracy": classifier_config["test_accuracy"] if model is not None else None, **metrics}
    stem = Path(out) if out else Path(checkpoint).parent / f"eval-{which}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    with stem.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(record))
        writer.writeheader()
        writer.writerow(record)
    return record
