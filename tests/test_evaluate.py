import csv
import json
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from nogancolor.evaluation.evaluate import evaluate_checkpoint, evaluate_generator
from nogancolor.evaluation.metrics import (
    ab_error_auc,
    colorfulness,
    frechet_distance,
    psnr,
)
from nogancolor.methods import train
from nogancolor.methods.unet import UNetConfig


def test_auc_of_the_cumulative_ab_error_against_a_hand_computed_case():
    true = torch.zeros(1, 2, 1, 2)
    pred = torch.tensor([[[[0.0, 60.0]], [[0.0, 80.0]]]])  # errors 0 and 100 (a 60-80-100 triangle)
    # thresholds 0..99 cover one pixel of two, 100..150 both: (100 * 0.5 + 51 * 1) / 151
    assert ab_error_auc(pred, true) == pytest.approx((100 * 0.5 + 51) / 151)
    assert ab_error_auc(true, true) == 1.0


def test_colorfulness_against_hand_computed_values():
    rgb = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]]]])  # a red and a blue pixel
    # rg = (255, 0), yb = (127.5, -255): sigma = sqrt(127.5^2 + 191.25^2), mu = sqrt(127.5^2 + 63.75^2)
    expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, 63.75)
    assert colorfulness(rgb).item() == pytest.approx(expected, rel=1e-5)
    assert colorfulness(torch.full((1, 3, 4, 4), 0.4)).item() == pytest.approx(0, abs=1e-4)


def test_frechet_distance_against_the_one_dimensional_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, (500, 1)), rng.normal(-0.5, 0.5, (400, 1))
    va, vb = a.var(ddof=1), b.var(ddof=1)
    expected = (a.mean() - b.mean()) ** 2 + va + vb - 2 * np.sqrt(va * vb)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    same = rng.normal(size=(300, 4))
    assert frechet_distance(same, same) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_warns_in_words_when_images_do_not_outnumber_features():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="from 8 images in a 16-feature space is unreliable"):
        frechet_distance(rng.normal(size=(8, 16)), rng.normal(size=(20, 16)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough images: no warning of any kind
        frechet_distance(rng.normal(size=(200, 16)), rng.normal(size=(200, 16)))


class Constant(torch.nn.Module):
    def __init__(self, ab):
        super().__init__()
        self.ab = ab

    def forward(self, l_norm):
        return self.ab.expand(len(l_norm), -1, *l_norm.shape[-2:])


def test_psnr_and_ssim_match_reference_implementations():
    from nogancolor.color import lab_to_model, model_to_rgb, rgb_to_lab

    torch.manual_seed(0)
    images = (torch.rand(6, 3, 32, 32) * 255).to(torch.uint8)
    ab = torch.tensor([0.1, -0.1]).view(1, 2, 1, 1)
    metrics = evaluate_generator(Constant(ab), images, torch.zeros(6, dtype=torch.long), bs=4)
    l_norm, ab_true = lab_to_model(rgb_to_lab(images.float() / 255))
    pred, true = model_to_rgb(l_norm, ab.expand(6, -1, 32, 32)), model_to_rgb(l_norm, ab_true)
    assert metrics["psnr"] == pytest.approx(psnr(pred, true).mean().item(), rel=1e-4)
    reference = np.mean([structural_similarity(p.permute(1, 2, 0).numpy(), t.permute(1, 2, 0).numpy(), channel_axis=2,
                                               data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
                         for p, t in zip(pred, true)])
    assert metrics["ssim"] == pytest.approx(reference, abs=2e-3)
    assert metrics["ab_mse"] == pytest.approx((ab - ab_true).pow(2).mean().item(), rel=1e-4)
    assert metrics["colorfulness_pred"] < metrics["colorfulness_true"]  # one flat tint vs random colours


def test_evaluate_a_checkpoint_on_val_and_test(prepared, tmp_path):
    from nogancolor.methods.classifier import ClassifierConfig

    torch.manual_seed(0)
    train(UNetConfig(data=str(prepared), epochs=2, bs=8, base=8), tmp_path / "unet", progress=False)
    train(ClassifierConfig(data=str(prepared), epochs=3, bs=8, base=8), tmp_path / "clf", progress=False)
    checkpoint = tmp_path / "unet" / "model.safetensors"
    val = evaluate_checkpoint(checkpoint, prepared, "val", classifier=tmp_path / "clf" / "model.safetensors")
    config = json.loads(checkpoint.with_suffix(".json").read_text())
    assert val["set"] == "val" and val["split"] == "hue" and val["method"] == "unet" and val["n_images"] == 4
    assert val["ab_mse"] == pytest.approx(config["metrics"]["val_ab_mse"], rel=1e-4)  # same as the training-time check
    assert val["psnr"] == pytest.approx(config["metrics"]["val_psnr"], rel=1e-4)
    test = evaluate_checkpoint(checkpoint, prepared, "test", classifier=tmp_path / "clf" / "model.safetensors")
    assert test["n_images"] == 10 and test["accuracy_real"] >= 0.9 and test["frechet_classifier_distance"] > 0
    with open(tmp_path / "unet" / "eval-test.csv") as f:
        row = next(csv.DictReader(f))
    assert row["set"] == "test" and float(row["auc"]) == pytest.approx(test["auc"])
    # a comparison computes the classifier's view of real and gray images once per set: same numbers
    from nogancolor.evaluation.evaluate import classifier_reference, evaluation_images
    from nogancolor.models.classifier import load_classifier

    reference = classifier_reference(load_classifier(tmp_path / "clf" / "model.safetensors")[0],
                                     *evaluation_images(prepared, "hue", "test"))
    again = evaluate_checkpoint(checkpoint, prepared, "test", classifier=tmp_path / "clf" / "model.safetensors",
                                reference=reference, out=tmp_path / "again")
    assert {k: v for k, v in again.items() if k != "checkpoint"} == {k: v for k, v in test.items() if k != "checkpoint"}
    images, labels = evaluation_images(prepared, "hue", "test")
    subset = evaluate_checkpoint(checkpoint, prepared, "test", classifier=None, n_images=5, out=tmp_path / "subset")
    assert subset["n_images"] == 5
    picked, picked_labels = evaluation_images(prepared, "hue", "test", 5)
    assert torch.equal(picked, images[::2]) and torch.equal(picked_labels, labels[::2])  # evenly spaced: every class
    with pytest.raises(ValueError, match="unknown set"):
        evaluate_checkpoint(checkpoint, prepared, "train")


def test_the_kernel_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    from nogancolor.evaluation.metrics import kernel_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(300, 8))
    same, shifted = kernel_distance(a, b), kernel_distance(a, b + 1.0)
    assert abs(same) < 0.02 and shifted > 0.3 and kernel_distance(a, b) == same  # seeded subsets: repeatable
    with pytest.raises(ValueError, match="at least 2 images"):
        kernel_distance(a[:1], b)


def test_imagenet_measures_name_imagenet_classes_and_skip_top1_for_other_datasets(prepared, tmp_path):
    """The offline ImageNet judge measures every evaluation; its top-1 only where the dataset's
    classes are ImageNet wnids (here a copy of the tiny set with its two classes renamed so)."""
    import shutil

    from nogancolor.evaluation.evaluate import imagenet_classes

    torch.manual_seed(0)
    train(UNetConfig(data=str(prepared), epochs=1, bs=8, base=8), tmp_path / "unet", progress=False)
    checkpoint = tmp_path / "unet" / "model.safetensors"
    plain = evaluate_checkpoint(checkpoint, prepared, "test", classifier=None)
    assert plain["imagenet_lite_fd"] > 0 and "imagenet_lite_kid" in plain and "imagenet_top1_colorized" not in plain
    assert imagenet_classes(prepared, "test") is None

    wnids = shutil.copytree(prepared, tmp_path / "wnids")
    meta = json.loads((wnids / "meta.json").read_text())
    for subset in meta["subsets"].values():
        subset["classes"] = ["n01440764", "n01443537"]  # tench, goldfish: ImageNet's classes 0 and 1
    (wnids / "meta.json").write_text(json.dumps(meta))
    assert imagenet_classes(wnids, "test").tolist() == [0, 1]
    named = evaluate_checkpoint(checkpoint, wnids, "test", classifier=None)
    assert {"imagenet_top1_colorized", "imagenet_top1_real", "imagenet_top1_gray"} <= set(named)
    assert named["imagenet_lite_fd"] == pytest.approx(plain["imagenet_lite_fd"])  # the same images and features
    from nogancolor.color import lab_to_model, model_to_rgb, rgb_to_lab
    from nogancolor.evaluation.evaluate import evaluation_images, imagenet_judge, imagenet_size, judge_view

    images, labels = evaluation_images(wnids, "hue", "test")
    assert imagenet_size(images) == 64  # twice the 32 px images
    l_norm, ab = lab_to_model(rgb_to_lab(images.float() / 255))
    with torch.no_grad():
        real_logits, real = judge_view(imagenet_judge(), model_to_rgb(l_norm, ab), 64)
        gray = judge_view(imagenet_judge(), model_to_rgb(l_norm, torch.zeros_like(ab)), 64)[1]
    assert named["imagenet_top1_real"] == (real_logits.argmax(1) == labels).float().mean().item()  # class i is ImageNet's i
    assert named["imagenet_lite_fd_gray"] == pytest.approx(frechet_distance(real.double().numpy(), gray.double().numpy()))
