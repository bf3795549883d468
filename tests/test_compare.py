import csv
import json
import os
from pathlib import Path

import pytest
import torch

from nogancolor.study.compare import compare, training_seconds
from nogancolor.study.profiles import PROFILES, profile_from_record

pytestmark = pytest.mark.slow  # minutes of training or whole scripts: outside the quick subset

SMALL = {"n_train": 16, "bs": 8, "base": 8}
TINY = {"n_eval": 6, "classifier": {"epochs": 2, "bs": 8, "base": 8},
        "unet": {"epochs": 2, **SMALL}, "dcgan": {"epochs": 1, **SMALL},
        "nogan": {"generator": {"epochs": 1}, "critic": {"epochs": 1, "nf": 8}, "gan": {"epochs": 1.0, "val_every": 1},
                  **SMALL}}


@pytest.fixture(scope="module")
def report(prepared, tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("compare")
    messages = []
    out = compare(prepared, profile_from_record("tiny", TINY), seeds=(0, 1), out=root / "report", runs=root / "runs",
                  progress=False, log=messages.append, command="nogancolor compare --profile tiny")
    return out, root, messages


def test_compare_trains_every_method_split_and_seed_and_reports(report, prepared):
    out, root, messages = report
    assert len(messages) == 13 and messages[1].startswith("[1/13] U-Net, hue split, seed 0")
    with open(out / "all_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 * 2 * 2  # methods x splits x seeds x (val, test)
    assert {(r["method"], r["split"], r["seed"], r["set"]) for r in rows} == {
        (m, s, str(seed), w) for m in ("unet", "dcgan", "nogan") for s in ("hue", "random") for seed in (0, 1) for w in ("val", "test")}
    assert {r["n_images"] for r in rows if r["set"] == "test"} == {"6"}  # n_eval: 6 of the 10 test images
    assert {r["n_images"] for r in rows if r["set"] == "val"} == {"4"}  # fewer than 6 to begin with
    text = (out / "report.md").read_text()
    assert "## Official test set (6 images)" in text
    assert "| U-Net | hue | 2 |" in text and "±" in text  # mean ± std over two seeds
    accuracy = json.loads(next((root / "runs").glob("compare-tiny/classifier-*/model.json")).read_text())["test_accuracy"]
    assert f"top-1 {accuracy:.3f} on all colour test images" in text
    assert "png files; prepared at" in text and {r["dataset_files"] for r in rows} == {"png"}
    assert {r["dataset"] for r in rows} == {os.path.relpath(json.loads((prepared / "meta.json").read_text())["source"])}
    assert text.startswith("# Colorization comparison: profile `tiny`\n\nDataset: `tinycifar` (`")
    assert "`/" not in text  # paths relative to the project, never this machine's absolute ones
    configs = json.loads(text.split("are the study's): `")[1].split("`")[0])
    assert configs["unet"]["epochs"] == 2 and "data" not in configs["classifier"]  # set per run, not shown
    assert not {"data", "split", "seed", "classifier"} & set(configs["nogan"]) and configs["nogan"]["critic"]["nf"] == 8
    assert "nogancolor compare --profile tiny" in text and "torch" in text and "Wall time" in text
    (nogan,) = (root / "runs").glob("compare-tiny/nogan-*/hue-s0")
    seconds = sum(int(m) * 60 + int(sec) for path in nogan.glob("*/history.csv")
                  for m, sec in (row["time"].split(":") for row in csv.DictReader(path.open())))
    assert f"{nogan.parent.name}/hue-s0`: {seconds / 60:.1f} min of epochs" in text  # all three NoGAN stages
    for name in ("comparison-hue.png", "comparison-hue.pdf", "comparison-random.png", "training_curves.png"):
        assert (out / name).stat().st_size > 1000


def test_table_means_match_the_raw_records(report):
    out, _, _ = report
    records = json.loads((out / "all_metrics.json").read_text())
    psnr = [r["psnr"] for r in records if r["method"] == "dcgan" and r["split"] == "random" and r["set"] == "test"]
    mean = sum(psnr) / 2
    line = next(l for l in (out / "report.md").read_text().split("## Official test set")[1].splitlines()
                if l.startswith("| DCGAN | random |"))
    assert line.split(" | ")[4].startswith(f"{mean:.2f} ±")


def test_a_second_compare_reuses_the_runs(report, prepared):
    out, root, _ = report
    (model,) = (root / "runs").glob("compare-tiny/unet-*/hue-s0/model.safetensors")
    stamp = model.stat().st_mtime_ns
    again = root / "again"  # evaluated on fewer images: the same trained runs
    compare(prepared, profile_from_record("tiny", TINY | {"n_eval": 5}), seeds=(0, 1), out=again, runs=root / "runs",
            progress=False, log=lambda m: None)
    assert model.stat().st_mtime_ns == stamp and len(list((root / "runs").glob("compare-tiny/*"))) == 4
    assert "## Official test set (5 images)" in (again / "report.md").read_text()


def test_training_time_sums_every_stage_and_call(tmp_path):
    (tmp_path / "1-generator").mkdir()
    (tmp_path / "1-generator" / "history.csv").write_text("epoch,train_loss,time\n0,1.0,01:30\n1,0.9,00:45\n")
    (tmp_path / "history.csv").write_text("epoch,train_loss,time\n0,1.0,1:00:05\n")  # fastai's h:mm:ss
    assert training_seconds(tmp_path) == 90 + 45 + 3605


def test_the_quick_profile_keeps_its_run_folders():
    """Changing the quick profile's training settings would orphan its trained runs; evaluation
    settings may change freely."""
    from dataclasses import replace

    quick = PROFILES["quick"]
    expected = {None: "b7382dad", "unet": "b9096048", "dcgan": "b9f6d0fe", "nogan": "ca30bff7"}
    assert {m: quick.digest(m) for m in expected} == expected
    assert replace(quick, n_eval=10).digest("nogan") == expected["nogan"]
    assert quick.run_folder(Path("runs"), "unet") == Path("runs/compare-quick/unet-" + expected["unet"])


def test_a_method_change_retrains_that_method_only():
    """A longer joint phase makes NoGAN's run folder new and keeps the U-Net's, the DCGAN's and
    the classifier's; a new classifier makes NoGAN's (which trains on it) new, not the U-Net's."""
    from dataclasses import replace

    photo = PROFILES["photo"]
    nogan = photo.configs["nogan"]
    longer = replace(photo, configs={**photo.configs, "nogan": replace(nogan, gan=replace(nogan.gan, epochs=9.0))})
    assert [longer.digest(m) == photo.digest(m) for m in (None, "unet", "dcgan", "nogan")] == [True, True, True, False]
    other = replace(photo, classifier=replace(photo.classifier, epochs=9))
    assert [other.digest(m) == photo.digest(m) for m in (None, "unet", "dcgan", "nogan")] == [False, True, True, False]


def test_the_pretrained_photo_profile_gives_every_method_the_same_generator(tmp_path):
    """Fair to all: the U-Net's, the DCGAN's and NoGAN's generators in photo-pretrained are one
    network (names and shapes), DeOldify's (self-attention)."""
    from nogancolor.methods import REGISTRY
    from nogancolor.methods.nogan.stages import GeneratorPretraining

    configs = PROFILES["photo-pretrained"].configs
    assert set(configs) == {"unet", "dcgan", "nogan", "classify"}

    def layers(method):
        model = method.generator_at((64, 64))
        return {name: tuple(t.shape) for name, t in model.state_dict().items()}

    unet = layers(REGISTRY["unet"].method(configs["unet"], tmp_path))
    assert layers(REGISTRY["dcgan"].method(configs["dcgan"], tmp_path)) == unet
    assert layers(GeneratorPretraining(configs["nogan"], tmp_path, None)) == unet
    assert any(".query." in name for name in unet) and any(name.endswith("weight_orig") for name in unet)  # self-attention, spectral norm
