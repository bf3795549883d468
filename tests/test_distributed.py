"""Two training processes on CPU (gloo), started the way users start several GPUs: `accelerate
launch --multi_gpu --num_processes 2` (accelerate's `--cpu` flag starts a single process)."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from nogancolor.data import colorization_dls
from nogancolor.evaluation.metrics import val_metrics
from nogancolor.methods import train
from nogancolor.methods.classifier import ClassifierConfig
from nogancolor.models import load_generator

ROOT = Path(__file__).resolve().parent.parent
ACCELERATE = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
pytestmark = [pytest.mark.skipif(ACCELERATE is None, reason="accelerate's launcher is not installed"),
              pytest.mark.slow]  # several training processes: outside the quick subset
TINY = ["--n-train", "32", "--bs", "4", "--base", "4"]


def launch(*args, **kwargs):
    command = [ACCELERATE, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
               "no", "--dynamo_backend", "no", "--main_process_port", str(29500 + os.getpid() % 1000), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kwargs)


def finished(proc, timeout=300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def test_each_process_trains_on_its_own_shard_of_every_epoch(prepared, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(f"""
        import json, sys, torch
        from fastai.torch_core import rank_distrib, set_seed
        from nogancolor.data import colorization_dls
        from nogancolor.train.distributed import ShardedDL, start_processes
        start_processes("cpu")
        set_seed(0)
        dl = ShardedDL(colorization_dls({str(prepared)!r}, "hue", bs=4).train)
        epochs = [[float(y.sum(dim=(1, 2, 3))[i]) for x, y in dl for i in range(len(y))] for _ in range(2)]
        json.dump(epochs, open({str(tmp_path)!r} + f"/rank{{rank_distrib()}}.json", "w"))
    """))
    finished(launch(str(probe)))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    share = len(colorization_dls(prepared, "hue", bs=4).train_ds) // 2
    for epoch in (0, 1):
        a, b = ranks[0][epoch], ranks[1][epoch]
        assert len(a) == len(b) == share // 4 * 4  # equal shares, each in full batches of 4
        assert not set(a) & set(b)  # no image in both shards
    assert ranks[0][0] != ranks[0][1]  # a new order each epoch


def test_two_processes_train_write_once_resume_after_a_kill_and_export_what_one_process_measures(prepared, tmp_path):
    run = tmp_path / "unet"
    # 3 validation images: one process's shard repeats one to make the shares equal
    args = ["-m", "cli.main", "train", "unet", "--data", str(prepared), *TINY, "--n-val", "3", "--precision", "fp32",
            "--epochs", "4", "--out", str(run)]
    proc = launch(*args, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "checkpoints" / "last.json").exists() and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both training processes
    proc.wait()
    done = json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
    assert done < 3 and not (run / "model.json").exists()

    out = finished(launch(*args, "--resume"))
    assert out.count("U-Net: val ab MSE") == 1  # one process reports
    with open(run / "history.csv") as f:
        rows = [line.split(",")[0] for line in f.read().splitlines()]
    assert rows == ["epoch", "0", "1", "2", "3"]  # one header, each epoch once: only rank 0 writes
    config = json.loads((run / "model.json").read_text())
    generator, _ = load_generator(run / "model.safetensors")
    measured = val_metrics(colorization_dls(prepared, "hue", bs=4, n_train=32, n_val=3).valid, generator)
    assert measured["ab_mse"] == pytest.approx(config["metrics"]["val_ab_mse"], abs=1e-5)
    assert measured["psnr"] == pytest.approx(config["metrics"]["val_psnr"], abs=1e-5)
    with open(run / "history.csv") as f:  # the per-epoch metrics of the exported (best) epoch: the same, exactly
        best = min(csv.DictReader(f), key=lambda row: float(row["valid_loss"]))
    assert float(best["valid_loss"]) == pytest.approx(measured["ab_mse"], rel=1e-5)
    assert float(best["psnr"]) == pytest.approx(measured["psnr"], abs=1e-4)


def test_two_processes_train_a_dcgan_from_the_command_line_and_export_what_one_process_measures(prepared, tmp_path):
    run = tmp_path / "dcgan"
    out = finished(launch("-m", "cli.main", "train", "dcgan", "--data", str(prepared), *TINY, "--epochs", "2",
                          "--out", str(run)))
    assert out.count("DCGAN: val ab MSE") == 1
    with open(run / "history.csv") as f:
        lines = f.read().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch", "0", "1"]
    assert "d_accuracy" in lines[0] and "," not in lines[1].split(",")[-1]
    config = json.loads((run / "model.json").read_text())
    generator, _ = load_generator(run / "model.safetensors")
    measured = val_metrics(colorization_dls(prepared, "hue", bs=4, n_train=32).valid, generator)
    assert measured["ab_mse"] == pytest.approx(config["metrics"]["val_ab_mse"], abs=1e-5)


def test_two_processes_run_nogans_three_stages_from_the_command_line(prepared, tmp_path):
    train(ClassifierConfig(data=str(prepared), epochs=1, bs=8, base=4), tmp_path / "classifier", progress=False)
    run = tmp_path / "nogan"
    out = finished(launch("-m", "cli.main", "train", "nogan", "--data", str(prepared), *TINY, "--critic-nf", "4",
                          "--classifier", str(tmp_path / "classifier" / "model.safetensors"), "--gen-epochs", "1",
                          "--critic-epochs", "1", "--gan-epochs", "1", "--val-every", "2", "--out", str(run)))
    assert out.count("stage 3/3 joint GAN phase") == 1 and out.count("NoGAN: val ab MSE") == 1, out
    with open(run / "3-gan" / "history.csv") as f:
        rows = [line.split(",")[0] for line in f.read().splitlines()]
    per_process = len(colorization_dls(prepared, "hue", bs=4, n_train=32).train) // 2
    assert rows == ["epoch", *map(str, range(per_process // 2))]  # one pass over the set, in chunks of 2 batches
    assert json.loads((run / "model.json").read_text())["method"] == "nogan"


def test_gan_processes_take_the_same_steps_on_different_shards(prepared, tmp_path):
    """Each process sees other images and starts from other weights, yet both end with rank 0's
    weights trained by the same steps: gradients and the loss the switcher reads are averaged."""
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(f"""
        import json, torch
        from fastai.torch_core import rank_distrib, set_seed
        from nogancolor.models.critics import PairCritic, PairDiscriminator
        from nogancolor.data import colorization_dls
        from nogancolor.train.distributed import distributed_fit, start_processes
        from nogancolor.methods.dcgan import dcgan_learner
        from nogancolor.models import UNet
        from nogancolor.models.features import FrozenFeatures
        from nogancolor.methods.nogan import JointStageConfig, joint_learner

        class Doubling(torch.nn.Module):
            def features(self, rgb):
                return [rgb, 2 * rgb]

        start_processes("cpu")
        rank = rank_distrib()
        for name in ("dcgan", "joint"):
            set_seed(0)
            dls = colorization_dls({str(prepared)!r}, "hue", bs=4)
            if name == "dcgan":
                learn = dcgan_learner(dls, UNet(base=4), PairDiscriminator(base=4))
            else:
                learn = joint_learner(dls, UNet(base=4), PairCritic(nf=4), FrozenFeatures(Doubling(), (1.0, 1.0)),
                                      JointStageConfig(critic_thresh=0.9), log=False)
            torch.manual_seed(rank)  # different initial weights: rank 0's must reach every process
            for p in learn.model.parameters():
                torch.nn.init.normal_(p, std=0.02)
            start = {{k: v.clone() for k, v in learn.model.state_dict().items()}}
            with distributed_fit(learn), learn.no_bar(), learn.no_logging():
                learn.fit(2, 1e-3)
            torch.save({{"start": start, "end": learn.model.state_dict(),
                        "turns": [len(learn.gan_trainer.gen_losses), len(learn.gan_trainer.crit_losses)],
                        "losses": torch.stack(learn.recorder.losses)}},
                       {str(tmp_path)!r} + f"/{{name}}{{rank}}.pt")
    """))
    finished(launch(str(probe)))
    for name in ("dcgan", "joint"):
        a, b = (torch.load(tmp_path / f"{name}{r}.pt") for r in (0, 1))
        assert a["turns"] == b["turns"] and min(a["turns"]) > 0
        assert torch.equal(a["losses"], b["losses"])  # what the switcher reads: the mean over processes
        assert not torch.equal(a["start"]["generator.head.0.weight"], b["start"]["generator.head.0.weight"])
        for key, value in a["end"].items():
            assert torch.equal(value, b["end"][key]), (name, key)
        assert not torch.equal(a["end"]["generator.head.0.weight"], a["start"]["generator.head.0.weight"])


def finished_with_error(proc, timeout=300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode != 0
    return out
