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
- realism in ImageNet features, independent of any network the study trains (with the offline
  ImageNet EfficientNet-Lite0 of `pip install 'nogancolor[imagenet]'`; skipped without it):
  the Frechet distance ("ImageNet-Lite FD") and the kernel distance ("ImageNet-Lite KID", the
  KID formula) between its pooled 1/16-scale features of real and colorized images, resized to
  twice their size, at most IMAGENET_SIZE (beside the same for the gray images); and on datasets whose classes are ImageNet's (Imagenette, Tiny-ImageNet) its
  ImageNet top-1 on colorized, real and gray images (Zhang et al.'s semantic interpretability
  test). Not Inception's FID or KID either.
"""

import csv
import functools
import json
from pathlib import Path

import torch
import torch.nn.functional as F
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
from .metrics import ab_error_cdf, classify, colorfulness, frechet_distance, kernel_distance

SETS = ("val", "test")
IMAGENET_SIZE = 128  # the ImageNet judge sees images at twice their size, at most this (Imagenette's 128 px photos)


def imagenet_size(images: torch.Tensor) -> int:
    """The size the ImageNet judge sees a set's images at: twice theirs (CIFAR-10's 32 px at 64,
    a quarter of the cost of 128), at most IMAGENET_SIZE."""
    return min(IMAGENET_SIZE, 2 * max(images.shape[-2:]))


@functools.cache
def imagenet_judge():
    """The offline ImageNet EfficientNet-Lite0 (models/imagenet.py), loaded once; None when its
    weights package is not installed (the ImageNet measures are then left out)."""
    from ..models.imagenet import ImageNetJudge

    try:
        return ImageNetJudge()
    except ValueError:
        return None


def imagenet_classes(data: Path, which: str) -> torch.Tensor | None:
    """ImageNet's class index of each of a prepared dataset's classes, when they are all ImageNet
    wnids (Imagenette, Tiny-ImageNet); else None."""
    from timm.data import ImageNetInfo

    classes = read_meta(data).get("subsets", {}).get("test" if which == "test" else "train", {}).get("classes")
    index = {wnid: i for i, wnid in enumerate(ImageNetInfo().label_names())}
    if not classes or any(c not in index for c in classes):
        return None
    return torch.tensor([index[c] for c in classes])


def judge_view(judge, rgb: torch.Tensor, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, pooled features) of a judge (the project's classifier, or the ImageNet one at
    `size`) on RGB images in [0, 1]."""
    if size is not None:
        rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return classify(judge, rgb)


@torch.no_grad()
def classifier_reference(classifier, images: torch.Tensor, labels: torch.Tensor | None, bs: int = EVAL_BATCH, device=None,
                         size: int | None = None) -> dict:
    """What a judge (the classifier, or the ImageNet one at `size`) makes of a set's real colour
    and gray images: the same for every model evaluated on that set, so a comparison computes it
    once. Without `labels`, features only."""
    device = torch.device(device or "cpu")
    classifier = classifier.to(device).eval()
    correct_real = correct_gray = 0
    features, features_gray = [], []
    for i in range(0, len(images), bs):  # counts and features stay on the device until the end
        rgb = images[i:i + bs].to(device).float() / 255
        l_norm, ab = lab_to_model(rgb_to_lab(rgb))
        logits, feats = judge_view(classifier, model_to_rgb(l_norm, ab), size)
        logits_gray, feats_gray = judge_view(classifier, model_to_rgb(l_norm, torch.zeros_like(ab)), size)
        if labels is not None:
            y = labels[i:i + bs].to(device)
            correct_real += (logits.argmax(1) == y).sum()
            correct_gray += (logits_gray.argmax(1) == y).sum()
        features.append(feats)
        features_gray.append(feats_gray)
    accuracy = {} if labels is None else {"accuracy_real": int(correct_real) / len(images),
                                          "accuracy_gray": int(correct_gray) / len(images)}
    return {**accuracy, "features_real": torch.cat(features).cpu().double().numpy(),
            "features_gray": torch.cat(features_gray).cpu().double().numpy()}


def imagenet_reference(images: torch.Tensor, labels: torch.Tensor, data: Path, which: str, **batches) -> dict | None:
    """The ImageNet judge's `classifier_reference` of a set (top-1 where the dataset's classes are
    ImageNet's), or None without the judge. `batches`: bs, device."""
    judge = imagenet_judge()
    if judge is None:
        return None
    classes = imagenet_classes(data, which)
    reference = classifier_reference(judge, images, None if classes is None else classes[labels],
                                     size=imagenet_size(images), **batches)
    real, gray = reference["features_real"], reference["features_gray"]  # gray's distances: the floor to beat
    return reference | {"imagenet_classes": classes, "size": imagenet_size(images),
                        "fd_gray": frechet_distance(real, gray), "kid_gray": kernel_distance(real, gray)}


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
                       device=None, progress: bool = False, reference: dict | None = None,
                       imagenet: dict | None = None) -> dict:
    """All metrics of `generator` (L -> scaled ab, eval mode) over uint8 `images` (N,3,H,W).
    `reference`: the set's `classifier_reference`, if already computed; `imagenet`: the set's
    `imagenet_reference` (None: no ImageNet measures)."""
    device = torch.device(device or "cpu")
    generator = generator.to(device).eval()
    if classifier is not None:
        classifier = classifier.to(device).eval()
        reference = reference or classifier_reference(classifier, images, labels, bs, device)
    judge = imagenet_judge().to(device) if imagenet is not None else None
    in_imagenet = None if imagenet is None or imagenet["imagenet_classes"] is None else imagenet["imagenet_classes"][labels]
    sums = dict.fromkeys(("ab_mse", "psnr", "ssim", "colorfulness_pred", "colorfulness_true"), 0.0)
    cdf, correct, feats_pred, correct_imagenet, feats_imagenet = 0.0, 0, [], 0, []
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
        if judge is not None:
            logits, feats = judge_view(judge, pred_rgb, imagenet["size"])
            if in_imagenet is not None:
                correct_imagenet += (logits.argmax(1) == in_imagenet[i:i + bs].to(device)).sum()
            feats_imagenet.append(feats)
    n = len(images)
    result = {k: float(v) / n for k, v in sums.items()}
    result["auc"] = float((cdf / n).mean())
    if classifier is not None:
        result.update(accuracy_colorized=int(correct) / n, accuracy_real=reference["accuracy_real"],
                      accuracy_gray=reference["accuracy_gray"])
        result["frechet_classifier_distance"] = frechet_distance(reference["features_real"],
                                                                 torch.cat(feats_pred).cpu().double().numpy())
    if judge is not None:
        colorized = torch.cat(feats_imagenet).cpu().double().numpy()
        result["imagenet_lite_fd"] = frechet_distance(imagenet["features_real"], colorized)
        result["imagenet_lite_kid"] = kernel_distance(imagenet["features_real"], colorized)
        result.update(imagenet_lite_fd_gray=imagenet["fd_gray"], imagenet_lite_kid_gray=imagenet["kid_gray"])
        if in_imagenet is not None:
            result.update(imagenet_top1_colorized=int(correct_imagenet) / n, imagenet_top1_real=imagenet["accuracy_real"],
                          imagenet_top1_gray=imagenet["accuracy_gray"])
    return result


def evaluate_checkpoint(checkpoint: Path, data: Path = DEFAULT_DATA_DIR, which: str = "val", split: str | None = None,
                        classifier: Path | None = DEFAULT_CLASSIFIER, out: Path | None = None, n_images: int | None = None,
                        imagenet: dict | None = None, **batches) -> dict:
    """Evaluate an exported generator on its own split's validation set (or `split`'s) or the
    test set (`n_images`: an evenly spaced subset of it); writes eval-<set>.json and .csv beside
    the checkpoint (or at `out`). -> the record. `imagenet`: the set's `imagenet_reference` if
    already computed; `batches`: bs, device, progress and reference for `evaluate_generator`."""
    generator, config = load_generator(checkpoint)
    data = Path(data)
    split = split or config.get("split", "hue")
    images, labels = evaluation_images(data, split, which, n_images)
    meta, model = read_meta(data), None
    if classifier is not None and Path(classifier).with_suffix(".json").exists():
        model, classifier_config = load_classifier(classifier)
    if imagenet is None:
        imagenet = imagenet_reference(images, labels, data, which, **{k: v for k, v in batches.items() if k in ("bs", "device")})
    metrics = evaluate_generator(generator, images, labels, model, imagenet=imagenet, **batches)
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
