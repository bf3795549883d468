import csv
import json
from pathlib import Path

import pytest
import torch
from fastai.callback.core import Callback

from nogancolor.color import lab_to_model, rgb_to_lab
from nogancolor.data import colorization_dls
from nogancolor.files import CheckpointError
from nogancolor.methods import train
from nogancolor.methods.unet import UNetConfig
from nogancolor.models import UNet, load_generator
from nogancolor.train.learner import colorization_learner, for_device
from nogancolor.train.errors import RunError


def test_a_few_steps_lower_the_loss(prepared):
    torch.manual_seed(0)
    dls = colorization_dls(prepared, "hue", bs=8)
    learn = colorization_learner(dls, UNet(base=8), log=False, grid=False)
    x, y = dls.one_batch()
    before = learn.loss_func(learn.model.eval()(x), y).item()
    with learn.no_bar(), learn.no_logging():
        learn.fit(8, 3e-3)
    after = learn.loss_func(learn.model.eval()(x), y).item()
    assert after < 0.7 * before


def test_lr_find_runs_in_a_notebook_style_session(prepared):
    dls = colorization_dls(prepared, "random", bs=8)
    learn = colorization_learner(dls, UNet(base=8), log=False, grid=False)
    with learn.no_bar(), learn.no_logging():
        suggestion = learn.lr_find(num_it=10, show_plot=False)
    assert 1e-7 < suggestion.valley < 10


def history(run):
    """The data rows of a run's history.csv, after checking it has exactly one header."""
    with open(run / "history.csv") as f:
        header, *rows = list(csv.reader(f))
    assert header[:4] == ["epoch", "train_loss", "valid_loss", "psnr"]
    assert all(row[0] != "epoch" for row in rows)
    return rows


def test_training_run_writes_checkpoints_log_grid_and_export(prepared, tmp_path):
    config = train(UNetConfig(data=str(prepared), epochs=2, bs=8, base=8), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert {"best.pth", "last.pth", "last.json"} <= {p.name for p in (run / "checkpoints").iterdir()}
    assert [row[0] for row in history(run)] == ["0", "1"]
    assert (run / "val_grid.png").stat().st_size > 1000
    assert config["method"] == "unet" and config["split"] == "hue" and config["arch_kwargs"] == {"base": 8}
    assert config["metrics"]["val_psnr"] > 5

    model, loaded = load_generator(run / "model.safetensors")
    assert loaded == config
    x = torch.randn(2, 1, 32, 32)
    from fastai.learner import load_model

    reference = UNet(base=8)
    load_model(run / "checkpoints" / "best.pth", reference, None, with_opt=False)
    assert torch.allclose(model(x), reference.eval()(x), atol=1e-6)


class Interrupt(Callback):
    order = 99  # after SaveLastCallback has written the epoch

    def after_epoch(self):
        if self.epoch == 1:
            raise KeyboardInterrupt


def test_resume_continues_after_the_last_finished_epoch(prepared, tmp_path, monkeypatch):
    import nogancolor.train.learner as learner_module

    run = tmp_path / "run"
    original = learner_module.colorization_learner

    def interrupted(*args, **kwargs):
        learn = original(*args, **kwargs)
        learn.add_cb(Interrupt())
        return learn

    monkeypatch.setattr("nogancolor.train.learner.colorization_learner", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(UNetConfig(data=str(prepared), epochs=4, bs=8, base=8), run, progress=False)
    assert json.loads((run / "checkpoints" / "last.json").read_text())["epoch"] == 1
    with pytest.raises(RunError, match="--resume"):
        train(UNetConfig(data=str(prepared), epochs=4, bs=8, base=8), run, progress=False)

    monkeypatch.setattr("nogancolor.train.learner.colorization_learner", original)
    lrs = []

    class RecordLR(Callback):
        def before_step(self):
            lrs.append((self.pct_train, self.opt.hypers[0]["lr"]))

    monkeypatch.setattr(
        "nogancolor.train.learner.colorization_learner",
        lambda *a, **k: original(*a, **k).add_cb(RecordLR()),
    )
    config = train(UNetConfig(data=str(prepared)), run, resume=True, progress=True)  # with bars, as users see it
    assert [row[0] for row in history(run)] == ["0", "1", "2", "3"]
    assert config["epochs"] == 4
    # the one-cycle schedule continues where it stopped: epoch 2 of 4 starts half way through
    from fastai.callback.schedule import combined_cos

    one_cycle = combined_cos(0.25, 2e-3 / 25, 2e-3, 2e-3 / 1e5)
    assert lrs[0][0] == pytest.approx(0.5)
    assert all(lr == pytest.approx(float(one_cycle(pct))) for pct, lr in lrs)


def test_resume_without_a_run_is_refused(prepared, tmp_path):
    with pytest.raises(RunError, match="no finished epoch"):
        train(UNetConfig(data=str(prepared)), tmp_path / "empty", resume=True)


def test_a_run_still_in_its_first_epoch_is_not_clobbered(prepared, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"epochs": 20}')
    (run / "history.csv").write_text("epoch,train_loss\n")
    with pytest.raises(RunError, match="already holds a run"):
        train(UNetConfig(data=str(prepared), epochs=1, bs=8, base=8), run, progress=False)
    assert (run / "history.csv").exists() and (run / "run.json").read_text() == '{"epochs": 20}'


def test_loading_something_that_is_not_ours_fails_cleanly(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x00" * 16)
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="not a nogancolor generator"):
        load_generator(tmp_path / "x.safetensors")
    (tmp_path / "x.json").write_text('{"format": "nogancolor-generator", "arch": "unet", "arch_kwargs": {}, "img_size": [32, 32]}')
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_generator(tmp_path / "x.safetensors")


def test_precision_choices(monkeypatch):
    from nogancolor.train import learner
    from nogancolor.train.learner import resolve_precision

    monkeypatch.setattr(learner, "cpu_bf16_speedup", lambda: 2.0)  # native bf16, matmuls twice as fast
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(learner, "cpu_bf16_speedup", lambda: 0.5)  # native, but slower (the Xeon of docs/speed.md)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", "cpu")


def test_bf16_autocast_runs_on_cpu(prepared):
    from nogancolor.train.callbacks import AutocastMixedPrecision

    dls = colorization_dls(prepared, "hue", bs=8)
    learn = for_device(colorization_learner(dls, UNet(base=8), log=False, grid=False), "bf16")
    assert learn.precision == "bf16"  # what an export records
    dtypes = []

    class Spy(Callback):
        order = AutocastMixedPrecision.order + 1

        def after_pred(self):
            conv = self.learn.model.head[0]
            dtypes.append(conv(torch.randn(1, conv.in_channels, 2, 2)).dtype)

    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3, cbs=Spy())
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)


def test_val_grid_shows_images_from_across_the_validation_set(prepared, tmp_path):
    from nogancolor.train.callbacks import ValGridCallback

    dls = colorization_dls(prepared, "random", bs=8)
    grid = ValGridCallback(tmp_path / "grid.png", n=3)
    learn = colorization_learner(dls, UNet(base=8), log=False, grid=False)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3, cbs=grid)
    first, last = dls.valid.one_batch()[0][0], dls.valid.one_batch()[0][len(dls.valid_ds) - 1]
    assert grid.val_x.shape == (3, 1, 32, 32)
    assert torch.equal(grid.val_x[0], first) and torch.equal(grid.val_x[-1], last)
    assert (tmp_path / "grid.png").stat().st_size > 1000


def test_dynamic_unet_survives_the_safetensors_round_trip(tmp_path):
    from nogancolor.files import export_generator
    from nogancolor.models import dynamic_unet

    model = dynamic_unet("resnet18").eval()
    export_generator(model, tmp_path / "g", arch="resnet18", img_size=(32, 32), method="unet")
    loaded, config = load_generator(tmp_path / "g.json")
    x = torch.randn(2, 1, 32, 32)
    assert config["arch"] == "resnet18"
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_no_colour_floor_matches_a_hand_computed_case():
    from nogancolor.color import lab_to_model, rgb_to_lab
    from nogancolor.evaluation.metrics import val_metrics

    rgb = torch.zeros(1, 3, 2, 2)
    rgb[0, 0] = 1.0  # pure red: L = 53.24, a = 80.09, b = 67.20
    l_norm, ab_norm = lab_to_model(rgb_to_lab(rgb))
    result = val_metrics([(l_norm, ab_norm)])
    assert result["ab_mse"] == pytest.approx(((80.09 / 110) ** 2 + (67.20 / 110) ** 2) / 2, rel=1e-3)
    gray = torch.tensor(0.2126 * 1.0) ** (1 / 2.4) * 1.055 - 0.055  # sRGB of red's luminance
    expected_mse = ((1 - gray) ** 2 + 2 * gray**2) / 3
    assert result["psnr"] == pytest.approx(10 * torch.log10(1 / expected_mse).item(), abs=0.05)


def test_a_finished_run_keeps_its_last_epoch_and_resuming_it_only_re_exports(prepared, tmp_path):
    run = tmp_path / "run"
    train(UNetConfig(data=str(prepared), epochs=2, bs=8, base=8), run, progress=False)
    # the final validate() fires after_epoch too; it must not overwrite the last checkpoint
    assert json.loads((run / "checkpoints" / "last.json").read_text())["epoch"] == 1
    before = (run / "checkpoints" / "last.pth").read_bytes()
    config = train(UNetConfig(data=str(prepared)), run, resume=True, progress=True)
    assert [row[0] for row in history(run)] == ["0", "1"]
    assert (run / "checkpoints" / "last.pth").read_bytes() == before
    assert config["metrics"]["val_psnr"] > 5


def test_exported_weights_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    from nogancolor.files import export_generator

    old = os.umask(0o022)
    try:
        path = export_generator(UNet(base=8), tmp_path / "g", arch="unet", img_size=(32, 32), arch_kwargs={"base": 8})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_time_budget_stops_at_an_epoch_boundary_and_the_run_continues(prepared, tmp_path, monkeypatch):
    """A fake clock: each epoch takes 10 s. With 25 s, another epoch fits after the first (ends at
    20 s) but not after the second (30 s), so two epochs are kept; resuming trains the other two."""
    import time

    import nogancolor.train.learner as learner_module
    from nogancolor.train.errors import OutOfTime
    from nogancolor.train.run import time_budget

    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    class TenSecondEpochs(Callback):
        order = 98  # before StopBeforeDeadline looks at the clock

        def after_epoch(self):
            clock[0] += 10

    original = learner_module.colorization_learner
    monkeypatch.setattr("nogancolor.train.learner.colorization_learner", lambda *a, **k: original(*a, **k).add_cb(TenSecondEpochs()))
    run = tmp_path / "run"
    with time_budget(25), pytest.raises(OutOfTime, match="run the same command again"):
        train(UNetConfig(data=str(prepared), epochs=4, bs=8, base=8), run, progress=False)
    assert [row[0] for row in history(run)] == ["0", "1"] and not (run / "model.json").exists()
    with time_budget(25), pytest.raises(OutOfTime, match="before training"):  # no time left at all: nothing starts
        clock[0] = 100
        train(UNetConfig(data=str(prepared)), run, resume=True, progress=False)
    config = train(UNetConfig(data=str(prepared)), run, resume=True, progress=False)
    assert [row[0] for row in history(run)] == ["0", "1", "2", "3"] and config["epochs"] == 4


def test_bf16_speedup_is_measured_only_where_the_cpu_has_bf16_instructions(monkeypatch):
    from nogancolor.train import learner

    learner.cpu_bf16_speedup.cache_clear()
    monkeypatch.setattr(learner, "cpu_flags", lambda: {"avx2", "fma"})
    assert learner.cpu_bf16_speedup() == 0.0
    learner.cpu_bf16_speedup.cache_clear()
    monkeypatch.setattr(learner, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert learner.cpu_bf16_speedup(n=64, repeats=2) > 0  # measured: fp32 time over bf16 time
    learner.cpu_bf16_speedup.cache_clear()


def test_a_later_fit_still_logs_its_rows_after_no_bar(prepared, tmp_path):
    """fastai's no_bar() puts a stock progress bar back at the end of the callbacks; the history
    logger must still wrap the logger after it, or a later fit's rows are lost (a notebook's
    lr_find, show_results or get_preds use no_bar)."""
    dls = colorization_dls(prepared, "hue", bs=8)
    learn = colorization_learner(dls, UNet(base=4), tmp_path, grid=False)
    with learn.no_bar():
        pass
    learn.fit(2, 1e-3)
    with open(tmp_path / "history.csv") as f:
        assert [line.split(",")[0] for line in f.read().splitlines()] == ["epoch", "0", "1"]


def test_colour_rebalancing_weights_rare_colours_up_and_trains(prepared, tmp_path):
    """benchmarks/colour_rebalance.py: weights of mean 1 over the training pixels, larger for rarer
    colours, and a U-Net run trained and exported with them."""
    import runpy
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "colour_rebalance.py"
    bench = runpy.run_path(str(script))
    rgb = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    rgb[:, :] = torch.tensor([128, 128, 128], dtype=torch.uint8)[:, None, None]  # mostly gray pixels
    rgb[0, :, :2, :2] = torch.tensor([200, 30, 30], dtype=torch.uint8)[:, None, None]  # a few red ones
    weights = bench["colour_weights"](rgb, mix=0.5)
    _, ab = lab_to_model(rgb_to_lab(rgb.float() / 255))
    per_pixel = weights[bench["ab_bins"](ab)]
    assert per_pixel.mean().item() == pytest.approx(1.0, rel=1e-4)
    assert per_pixel[0, 0, 0] > 2 * per_pixel[1, 0, 0]  # the rare red pixel outweighs a common gray one
    milder = bench["colour_weights"](rgb, mix=0.8)[bench["ab_bins"](ab)]
    assert 1 < milder[0, 0, 0] / milder[1, 0, 0] < per_pixel[0, 0, 0] / per_pixel[1, 0, 0]  # more uniform: flatter
    loss = bench["RebalancedMSE"](weights)
    target, pred = ab[:1], torch.zeros_like(ab[:1])
    assert loss(pred, target).item() == pytest.approx((per_pixel[:1] * target.pow(2).mean(1)).mean().item(), rel=1e-5)

    out = tmp_path / "rebalanced"
    result = subprocess.run([sys.executable, str(script), "--data", str(prepared), "--out", str(out), "--epochs", "1",
                             "--base", "8", "--bs", "8"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "weights over" in result.stdout and (out / "model.safetensors").exists()
