"""The prepared GPU study script, dry-run on CPU with tiny settings: no GPU time spent on typos."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # minutes of training or whole scripts: outside the quick subset

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"n_train": 16, "n_val": 8, "bs": 8, "base": 4}
TINY = {"n_eval": 6, "classifier": {"epochs": 1, "bs": 8, "base": 4},
        "unet": {"epochs": 2, **SMALL}, "dcgan": {"epochs": 1, **SMALL}, "classify": {"epochs": 1, **SMALL},
        "nogan": {"generator": {"epochs": 1}, "critic": {"epochs": 1, "nf": 4}, "gan": {"epochs": 1.0, "val_every": 1},
                  **SMALL}}


def study(tmp_path, *args):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", DEVICE="cpu",
               BENCH_ARGS="--bs 4 --steps 2 --methods unet,nogan --no-cpu-table",
               CLASSIFIER_ARGS="--epochs 1 --bs 8 --n-train 16")
    return subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_study.sh"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def inputs(image_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu_study")
    archive = root / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(image_folder, arcname="tinycifar")
    (root / "tiny.json").write_text(json.dumps(TINY))
    return root, archive


def test_the_gpu_study_script_runs_end_to_end_and_resumes_after_its_budget(inputs):
    root, archive = inputs
    common = ["--data", str(archive), "--settings", str(root / "tiny.json"), "--seeds", "0", "--work", str(root / "work"),
              "--out", str(root / "out")]
    stopped = study(root, *common, "--budget", "0")
    assert stopped.returncode == 75, stopped.stdout + stopped.stderr
    assert "time budget used up" in stopped.stdout and "run the same command again" in stopped.stdout
    assert not (root / "out" / "report" / "report.md").exists()

    done = study(root, *common, "--bench", "--strong-classifier", "--tar", str(root / "study.tar.gz"))
    assert done.returncode == 0, done.stdout + done.stderr
    out = root / "out"
    for table in ("train_speed.md", "train_speed_compile.md"):
        speed = (out / table).read_text()
        assert "| unet | 4 |" in speed and "| nogan | 4 |" in speed and "device: " in speed
    report = (out / "report" / "report.md").read_text()
    assert "| NoGAN | random | 1 |" in report and (out / "report" / "comparison-hue.png").exists()
    assert "| Classification | hue | 1 |" in report and (out / "report" / "temperature-sweep-hue.png").exists()
    assert "device: CPU only" in (out / "environment.txt").read_text()
    strong = json.loads((out / "strong_classifier" / "model.json").read_text())
    assert strong["arch"] == "cifar-resnet18" and strong["epochs"] == 1
    log = (out / "log.txt").read_text()
    assert "stopped by the time budget" in log and "done:" in log  # both calls, appended
    histories = sorted(p.relative_to(out / "runs") for p in (out / "runs").rglob("history.csv"))
    assert len(histories) == 1 + 2 * (1 + 1 + 3 + 1)  # classifier; per split U-Net, DCGAN, NoGAN's 3 stages, classification
    assert len(list((out / "runs").rglob("model.json"))) == len(histories)  # each run and NoGAN stage exported
    with tarfile.open(root / "study.tar.gz") as tar:
        assert "out/report/report.md" in tar.getnames() and "out/log.txt" in tar.getnames()


def tiny_version(profile: str) -> dict:
    """A profile's own configs (widths, learning rates, losses) on a few images for one epoch."""
    from nogancolor.study.profiles import PROFILES

    record = PROFILES[profile].record() | {"n_eval": 6}
    record["classifier"] |= {"epochs": 1, "bs": 8, "n_train": 16}
    for method in set(record) - {"classifier", "n_eval", "size"}:  # every compared method
        record[method] |= {"n_train": 16, "n_val": 8, "bs": 8} | ({"epochs": 1} if method != "nogan" else {})
    record["nogan"]["generator"]["epochs"] = record["nogan"]["critic"]["epochs"] = 1
    record["nogan"]["gan"] |= {"epochs": 1.0, "val_every": 1}
    return record


def test_the_photo_gpu_profile_dry_runs_at_128_px(inputs):
    """The photo-full profile, written for a GPU, with its own networks at 128 px on CPU."""
    root, archive = inputs
    (root / "photo.json").write_text(json.dumps(tiny_version("photo-full")))
    out = root / "photo_out"
    done = study(root, "--data", str(archive), "--settings", str(root / "photo.json"), "--profile", "photo-full",
                 "--size", "128", "--seeds", "0", "--work", str(root / "photo_work"), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    report = (out / "report" / "report.md").read_text()
    assert report.startswith("# Colorization comparison: profile `photo-full`") and "| NoGAN | hue | 1 |" in report
    nogan = json.loads(next((out / "runs").glob("compare-photo-full/nogan-*/hue-s0/model.json")).read_text())
    assert nogan["img_size"] == [128, 128] and nogan["config"]["generator"]["lr"] == 2.8e-3
    unet = json.loads(next((out / "runs").glob("compare-photo-full/unet-*/hue-s0/model.json")).read_text())
    assert unet["config"]["base"] == 64 and unet["img_size"] == [128, 128]


def test_the_script_refuses_missing_inputs(tmp_path):
    result = study(tmp_path, "--out", str(tmp_path / "out"), "--data", str(tmp_path / "nothing.tar.gz"))
    assert result.returncode == 2 and "no such data archive" in result.stderr
    result = study(tmp_path, "--data", "x")
    assert result.returncode == 2 and "--out and --data are required" in result.stderr


def test_the_bundle_chain_script_resumes_after_its_budget_and_sends_its_generators_back(inputs):
    """benchmarks/gpu_bundle.sh with tiny settings (a small U-Net for the pretrained one): a budget
    stop, then the whole chain, and the generators rebuilt here from the pieces it returns."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import device_parts

    root, archive = inputs
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", ARCH_ARGS="--arch unet --base 4",
               TINY_ARGS="--bs 8 --epochs 2 --n-train 16 --n-val 8", FINETUNE_ARGS="--bs 8 --epochs 1 --n-train 16 --n-val 8",
               NOGAN_ARGS="--feature-net imagenet --bs 8 --n-train 16 --n-val 8 --gen-epochs 1 --critic-epochs 1 "
                          "--critic-nf 4 --gan-epochs 1 --val-every 1 --n-realism 8")
    common = ["--tiny", str(archive), "--imagenette", str(archive), "--work", str(root / "bundle_work"),
              "--out", str(root / "bundle_out")]

    def chain(*args):
        return subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_bundle.sh"), *common, *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=600)

    stopped = chain("--budget", "0")
    assert stopped.returncode == 75, stopped.stdout + stopped.stderr
    assert "tiny-unet: time budget used up" in stopped.stdout and "run the same command again" in stopped.stdout
    done = chain("--back", str(root / "back"))
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("tiny-unet", "finetune", "cycle1", "cycle2"):
        assert f"{name}: train " in done.stdout
    assert "finetune: train unet" in done.stdout and "--init-from" in done.stdout and "--adv-balance 0.25" in done.stdout

    (back_tar,) = device_parts.join(root / "back", root / "here")
    with tarfile.open(back_tar) as tar:
        tar.extractall(root / "here", filter="data")
    from nogancolor.apps.colorize import Colorizer

    for name in ("finetune", "cycle2"):
        sent = root / "here" / f"{name}.safetensors"  # in fp16: about half the run's own export
        assert sent.stat().st_size < 0.6 * (root / "bundle_work" / "runs" / name / "model.safetensors").stat().st_size
        colorizer = Colorizer.from_checkpoint(sent, device="cpu")
        assert colorizer.colorize(Image.new("RGB", (56, 40), "gray")).size == (56, 40)
    assert json.loads((root / "here" / "cycle2.json").read_text())["method"] == "nogan"
    assert (root / "here" / "out" / "runs" / "cycle2" / "3-gan" / "history.csv").exists()
    assert "stopped by the time budget" in (root / "here" / "out" / "log.txt").read_text()  # both calls' log
