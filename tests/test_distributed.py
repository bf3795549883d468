"""Two training processes on CPU (gloo), started the way users start several GPUs: `accelerate
launch --multi_gpu --num_processes 2` (accelerate's `--cpu` flag starts a single process)."""

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

from nogancolor.data import colorization_dls
from nogancolor.export import load_generator
from nogancolor.metrics import val_metrics

ROOT = Path(__file__).resolve().parent.parent
ACCELERATE = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
pytestmark = pytest.mark.skipif(ACCELERATE is None, reason="accelerate's launcher is not installed")
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
        from nogancolor.distributed import ShardedDL, start_processes
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
    args = ["-m", "cli.main", "train", "unet", "--data", str(prepared), *TINY, "--epochs", "4", "--out", str(run)]
    proc = launch(*args, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "checkpoints" / "last.json").exists() and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both training processes
    proc.wait()
    done = json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
    assert done < 3 and not (run / "model.json").exists()

    out = finished(launch(*args, "--resume"))
    assert out.count("exported:") == 1  # one process reports
    with open(run / "history.csv") as f:
        rows = [line.split(",")[0] for line in f.read().splitlines()]
    assert rows == ["epoch", "0", "1", "2", "3"]  # one header, each epoch once: only rank 0 writes
    config = json.loads((run / "model.json").read_text())
    generator, _ = load_generator(run / "model.safetensors")
    measured = val_metrics(colorization_dls(prepared, "hue", bs=4, n_train=32).valid, generator)
    assert measured["ab_mse"] == pytest.approx(config["metrics"]["val_ab_mse"], abs=1e-5)
    assert measured["psnr"] == pytest.approx(config["metrics"]["val_psnr"], abs=1e-5)


def test_gans_in_several_processes_are_refused_in_one_line(prepared, tmp_path):
    out = finished_with_error(launch("-m", "cli.main", "train", "dcgan", "--data", str(prepared), *TINY, "--epochs", "1",
                                     "--out", str(tmp_path / "dcgan")))
    assert "error: training a GAN (train dcgan, NoGAN's joint phase) in several processes is not supported yet" in out
    assert "[rank0]: Traceback" not in out and "[rank1]: Traceback" not in out  # (the launcher prints its own)
    assert not (tmp_path / "dcgan").exists()  # refused before anything was written


def finished_with_error(proc, timeout=300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode != 0
    return out
