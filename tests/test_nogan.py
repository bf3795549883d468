import csv
import json
import math
from urllib.error import URLError

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb

from nogancolor.classify import classifier_dls, load_classifier, train_classifier
from nogancolor.critics import PairCritic
from nogancolor.data import colorization_dls, load_prepared, load_split
from nogancolor.data.splits import split_path
from nogancolor.export import CheckpointError, load_generator
from nogancolor.losses import FeatureLoss
from nogancolor.models import UNet
from nogancolor.models.features import FrozenFeatures, feature_net
from nogancolor.color import model_to_rgb
from nogancolor.evaluate import colorfulness
from nogancolor.nogan import RealVsFake, joint_learner, load_critic, train_nogan
from nogancolor.selection import select_checkpoint

TINY = dict(bs=8, base=8, critic_nf=8, gen_epochs=2, critic_epochs=1, gan_epochs=1.0, val_every=2, progress=False)


class Doubling(torch.nn.Module):
    """A stand-in feature network whose maps are the RGB image and twice it."""

    def features(self, rgb):
        return [rgb, 2 * rgb]


def test_feature_loss_against_hand_computed_values():
    gray = torch.zeros(1, 1, 2, 2)  # L = 50
    pred, target = torch.full((1, 2, 2, 2), 0.2), torch.zeros(1, 2, 2, 2)
    loss = FeatureLoss(FrozenFeatures(Doubling(), layer_weights=(1.0, 3.0)), pixel_weight=0.5)
    loss.gray = gray
    rgb_pred = lab2rgb(np.array([[[50.0, 22.0, 22.0]]]))[0, 0]  # ab = 0.2 * 110
    rgb_target = lab2rgb(np.array([[[50.0, 0.0, 0.0]]]))[0, 0]
    rgb_l1 = np.abs(rgb_pred - rgb_target).mean()
    expected = 0.5 * 0.2 + 1.0 * rgb_l1 + 3.0 * 2 * rgb_l1
    assert loss(pred, target).item() == pytest.approx(expected, rel=1e-4)
    assert float(loss.parts["pixel"]) == pytest.approx(0.2)
    assert float(loss.parts["feature"]) == pytest.approx(7 * rgb_l1, rel=1e-4)
    assert loss(target, target).item() == 0


def test_feature_loss_needs_the_gray_input_and_trains_only_the_generator():
    loss = FeatureLoss(FrozenFeatures(UNetFeatures(), (1.0,)))
    with pytest.raises(RuntimeError, match="no gray input"):
        loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4))
    assert not any(p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.features.net.training  # batch-norm statistics of the feature net never move


class UNetFeatures(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(3)

    def features(self, rgb):
        return [self.bn(rgb)]


def test_vgg_feature_net_offline_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ValueError, match="need internet.*--feature-net cifar"):
        feature_net("vgg16_bn")
    with pytest.raises(ValueError, match="unknown feature network"):
        feature_net("alexnet")


def test_missing_classifier_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="nogancolor train classifier"):
        feature_net("cifar", tmp_path / "none.safetensors")


def test_classifier_never_sees_validation_images(prepared):
    dls = classifier_dls(prepared, bs=4)
    images, _, _ = load_prepared(prepared)
    held_out = set()
    for kind in ("hue", "random"):
        held_out |= set(load_split(split_path(prepared, kind))[1].tolist())
    assert len(dls.train_ds) == len(images) - len(held_out)
    train_pixels = {bytes(images[i].numpy()) for i in range(len(images)) if i not in held_out}
    seen = {bytes(x.numpy()) for x, _ in dls.train_ds}
    assert seen == train_pixels
    test_images, _, _ = load_prepared(prepared, "test")
    assert len(dls.valid_ds) == len(test_images)


@pytest.fixture(scope="module")
def classifier(prepared, tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("classifier")
    config = train_classifier(prepared, out, epochs=4, bs=8, base=8, progress=False)
    return out / "model.safetensors", config


def test_classifier_trains_above_chance_on_a_separable_set(classifier):
    path, config = classifier
    assert config["test_accuracy"] >= 0.9  # two classes: chance is 0.5
    model, loaded = load_classifier(path)
    assert loaded["test_accuracy"] == config["test_accuracy"]
    assert [f.shape[1] for f in model.features(torch.rand(2, 3, 32, 32))] == [8, 16, 32]
    # the test accuracy measured at export (fastai's validate) adds no row to the history
    assert [r["epoch"] for r in rows(path.parent / "history.csv")] == ["0", "1", "2", "3"]


def test_pair_critic_is_spectral_normed_and_sees_the_gray_input():
    critic = PairCritic(nf=8).eval()
    assert any(name.endswith("weight_orig") for name, _ in critic.named_parameters())
    color = torch.randn(2, 2, 32, 32)
    assert critic(torch.zeros(2, 1, 32, 32), color).shape == (2,)
    assert not torch.allclose(critic(torch.zeros(2, 1, 32, 32), color), critic(torch.ones(2, 1, 32, 32), color))


def test_critic_batches_are_real_and_frozen_generator_pairs(prepared):
    from fastai.learner import Learner
    from fastai.losses import BCEWithLogitsLossFlat

    dls = colorization_dls(prepared, "hue", bs=4)
    generator = UNet(base=8)
    before = [p.detach().clone() for p in generator.parameters()]
    learn = Learner(dls, PairCritic(nf=8), loss_func=BCEWithLogitsLossFlat(), cbs=RealVsFake(generator))
    learn.xb, learn.yb = dls.one_batch()[:1], dls.one_batch()[1:]
    learn("before_fit")
    learn("before_batch")
    (gray, color), (labels,) = learn.xb, learn.yb
    assert gray.shape[0] == color.shape[0] == 8 and labels.tolist() == [1.0] * 4 + [0.0] * 4
    assert torch.equal(gray[:4], gray[4:]) and torch.allclose(color[4:], generator(gray[:4]))
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
    assert all(torch.equal(a, b) for a, b in zip(before, generator.parameters()))


@pytest.fixture(scope="module")
def nogan_run(prepared, classifier, tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("nogan") / "run"
    messages = []
    results = train_nogan(prepared, out, classifier=classifier[0], log=messages.append, **TINY)
    return out, results, messages


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_nogan_runs_three_stages_and_exports_each(nogan_run, prepared):
    out, results, messages = nogan_run
    assert [m.split(":")[0] for m in messages] == ["stage 1/3 generator pretraining", "stage 2/3 critic pretraining",
                                                     "stage 3/3 joint GAN phase"]
    pretrained, _ = load_generator(out / "1-generator" / "model.safetensors")
    final, config = load_generator(out / "model.safetensors")
    assert config["method"] == "nogan" and results[1]["method"] == "nogan-pretrained"
    assert config["pretrained_metrics"] == results[1]["metrics"]
    x = torch.randn(2, 1, 32, 32)
    assert not torch.allclose(final(x), pretrained(x))  # the joint phase moved the generator
    critic, critic_config = load_critic(out / "2-critic" / "model.safetensors")
    assert 0 <= critic_config["metrics"]["val_accuracy"] <= 1
    assert [r["epoch"] for r in rows(out / "2-critic" / "history.csv")] == ["0"]
    assert [r["epoch"] for r in rows(out / "1-generator" / "history.csv")] == ["0", "1"]
    assert (out / "1-generator" / "val_grid.png").exists() and (out / "3-gan" / "val_grid.png").exists()


def test_joint_phase_validates_every_val_every_batches(nogan_run, prepared):
    out, results, _ = nogan_run
    n_batches = len(colorization_dls(prepared, "hue", bs=8).train)
    history = rows(out / "3-gan" / "history.csv")
    assert len(history) == math.ceil(TINY["gan_epochs"] * n_batches / TINY["val_every"]) == results[3]["epochs"]
    for row in history:
        assert float(row["train_loss"]) > 0 and 0 <= float(row["d_accuracy"]) <= 1
    assert any(row["g_feature"] != "None" for row in history)  # a chunk may hold critic steps only
    assert all(float(r["colorfulness"]) >= 0 and float(r["fcd"]) >= 0 for r in history)


def test_joint_phase_exports_the_checkpoint_its_rule_chooses_and_measures_it_truly(nogan_run, prepared):
    out, results, _ = nogan_run
    config = results[3]
    history = [{k: float(r[k]) for k in ("psnr", "colorfulness", "fcd")} for r in rows(out / "3-gan" / "history.csv")]
    floor = config["pretrained_metrics"]["val_psnr"] - 1.0  # the default --max-psnr-drop
    assert config["select"] == "fcd" and config["psnr_floor"] == pytest.approx(floor)
    chosen = select_checkpoint(history, "fcd", floor)
    assert config["chosen_validation"] == chosen + 1 and config["chosen_batch"] == (chosen + 1) * TINY["val_every"]
    assert config["metrics"]["val_psnr"] == pytest.approx(history[chosen]["psnr"], abs=1e-3)
    # the exported generator's colourfulness on the subset (all validation images here) is the logged one
    generator, _ = load_generator(out / "model.safetensors")
    gray, ab = _all_val(prepared)
    with torch.no_grad():
        measured = float(colorfulness(model_to_rgb(gray, generator(gray))).mean())
    assert measured == pytest.approx(history[chosen]["colorfulness"], rel=1e-4)
    assert config["val_subset_colorfulness_true"] == pytest.approx(float(colorfulness(model_to_rgb(gray, ab)).mean()), rel=1e-5)
    assert (out / "3-gan" / "joint_phase.png").stat().st_size > 0


def _all_val(prepared):
    dl = colorization_dls(prepared, "hue", bs=8).valid
    return dl.after_batch(dl.create_batch([dl.do_item(i) for i in range(len(dl.dataset))]))


@pytest.mark.parametrize("rule, floor, expected", [
    ("psnr", None, 1),            # the highest PSNR
    ("fcd", 23.0, 2),             # the lowest FCD among PSNR >= 23 (row 3 has a lower FCD but PSNR 22)
    ("fcd", None, 3),             # no floor: the lowest FCD
    ("fcd", 30.0, 1),             # nothing within the floor: the highest PSNR
])
def test_checkpoint_rules_on_constructed_histories(rule, floor, expected):
    history = [{"psnr": 24.0, "fcd": 9.0}, {"psnr": 24.5, "fcd": 8.0}, {"psnr": 23.2, "fcd": 5.0}, {"psnr": 22.0, "fcd": 1.0}]
    assert select_checkpoint(history, rule, floor) == expected


def test_unknown_checkpoint_rule_and_empty_history_are_refused():
    with pytest.raises(ValueError, match="unknown checkpoint rule 'ssim'; choose one of fcd, psnr"):
        select_checkpoint([{"psnr": 1.0, "fcd": 1.0}], "ssim")
    with pytest.raises(ValueError, match="no validated checkpoint"):
        select_checkpoint([], "psnr")


def test_the_critic_steps_at_its_multiple_of_the_rate_and_the_rate_comes_back(prepared):
    from fastai.callback.core import Callback

    class Rates(Callback):
        order = 50

        def __init__(self):
            self.seen = []

        def after_pred(self):
            if self.training:
                self.seen.append((self.learn.gan_trainer.gen_mode, self.opt.hypers[0]["lr"]))

    dls = colorization_dls(prepared, "hue", bs=4)
    rates = Rates()
    learn = joint_learner(dls, UNet(base=4), PairCritic(nf=4), FrozenFeatures(Doubling(), (1.0, 1.0)), critic_lr_mult=5.0,
                          critic_thresh=0.9, select="psnr", log=False)
    learn.add_cb(rates)
    with learn.no_bar(), learn.no_logging():
        learn.fit(2, 1e-3)
    assert {mode for mode, _ in rates.seen} == {True, False}  # both networks stepped
    for gen_mode, lr in rates.seen:
        assert lr == pytest.approx(1e-3 if gen_mode else 5e-3)
    assert learn.opt.hypers[0]["lr"] == pytest.approx(1e-3)
    assert learn.opt.hypers[0]["wd"] == pytest.approx(1e-3) and learn.opt.hypers[0]["mom"] == 0.0  # AdamW, betas (0, 0.9)


def test_the_fcd_rule_needs_the_classifier():
    with pytest.raises(ValueError, match="needs the CIFAR-10 classifier"):
        joint_learner(None, UNet(base=4), PairCritic(nf=4), FrozenFeatures(Doubling(), (1.0,)), select="fcd", classifier=None)


def test_done_stages_are_skipped(nogan_run, prepared, classifier):
    out, _, _ = nogan_run
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    messages = []
    train_nogan(prepared, out, classifier=classifier[0], log=messages.append, **TINY)
    assert all("done, skipped" in m for m in messages) and len(messages) == 3
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_an_interrupted_stage_resumes_and_later_stages_are_redone(nogan_run, prepared, classifier, tmp_path, stage):
    import shutil

    from nogancolor.nogan import STAGES, stage_export

    out = tmp_path / "run"
    shutil.copytree(nogan_run[0], out)
    # as if the stage was killed in its last epoch: the one before checkpointed, nothing exported
    for later in range(stage, 4):
        stage_export(out, later).with_suffix(".json").unlink()
    state = out / STAGES[stage] / "checkpoints" / "last.json"
    last = json.loads(state.read_text())["epoch"]
    state.write_text(json.dumps(dict(json.loads(state.read_text()), epoch=last - 1)))
    messages = []
    train_nogan(prepared, out, classifier=classifier[0], log=messages.append, **TINY)
    assert [m.split(": ")[1].split(" ")[0] for m in messages] == ["done,"] * (stage - 1) + ["resuming"] + ["training"] * (3 - stage)
    epochs = [r["epoch"] for r in rows(out / STAGES[stage] / "history.csv")]
    assert epochs[-1] == str(last) and len(epochs) == last + 2  # the resumed epoch is logged again, nothing lost


def test_a_stage_alone_needs_the_earlier_ones(prepared, classifier, tmp_path):
    with pytest.raises(CheckpointError, match="stage 2 needs stage 1"):
        train_nogan(prepared, tmp_path / "run", stage=2, classifier=classifier[0], **TINY)


def test_joint_phase_curves_are_drawn_without_the_realism_columns_too(tmp_path):
    from nogancolor.figures import joint_phase_curves

    (tmp_path / "h.csv").write_text("epoch,psnr,time\n0,24.0,00:01\n1,24.2,00:01\n")
    path = joint_phase_curves(tmp_path / "h.csv", 1, 10, None, None, tmp_path / "curves.png")
    assert path.stat().st_size > 0


def test_joint_phase_sweep_reruns_stage_3_per_variant_and_plots(nogan_run, prepared, classifier, tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    out, _, _ = nogan_run
    run = tmp_path / "compare" / "nogan-hue-s0"
    shutil.copytree(out, run)
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "joint_phase_sweep.py"
    tiny = "gan_epochs=1.0,val_every=2,bs=8,n_train=null,n_val=null"
    result = subprocess.run([sys.executable, str(script), str(run), "--data", str(prepared), "--classifier", str(classifier[0]),
                             "--variant", f"w3:adv_weight=3,{tiny}", "--variant", f"b:adv_balance=0.5,{tiny}",
                             "--out", str(tmp_path / "sweep.jsonl"), "--plot", str(tmp_path / "sweep.png")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "sweep.jsonl").read_text().splitlines()]
    assert [(r["variant"], r["options"]["adv_weight" if r["variant"] == "w3" else "adv_balance"]) for r in lines] == [("w3", 3), ("b", 0.5)]
    for r in lines:  # each variant's export is its own stage 3 from the run's stages 1-2, which stay as they were
        sweep = tmp_path / "compare" / "sweeps" / f"nogan-hue-s0-{r['variant']}"
        assert json.loads((sweep / "model.json").read_text())["chosen_row"] == r["chosen"]
        assert (sweep / "1-generator" / "model.safetensors").read_bytes() == (run / "1-generator" / "model.safetensors").read_bytes()
    assert "g_adv_weight" in rows(tmp_path / "compare" / "sweeps" / "nogan-hue-s0-b" / "3-gan" / "history.csv")[0]
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
