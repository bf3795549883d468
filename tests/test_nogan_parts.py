"""NoGAN's parts, each alone: the feature loss and networks, the classifier, the critic and its
batches, the joint phase's Learner and the checkpoint rule (methods/nogan.py, methods/selection.py)."""

import csv
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import lab2rgb

from nogancolor.data import colorization_dls, load_prepared, load_split
from nogancolor.data.splits import split_path
from nogancolor.files import CheckpointError
from nogancolor.data.labelled import classifier_dls
from nogancolor.methods.nogan import (
    JointStageConfig,
    NoGANConfig,
    RealVsFake,
    joint_learner,
)
from nogancolor.methods.nogan.selection import select_checkpoint
from nogancolor.models import UNet
from nogancolor.models.classifier import load_classifier
from nogancolor.models.critics import PairCritic
from nogancolor.models.features import FrozenFeatures, feature_net
from nogancolor.models.losses import FeatureLoss


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
    with pytest.raises(ValueError, match="need internet.*--feature-net classifier"):
        feature_net("vgg16_bn")
    with pytest.raises(ValueError, match="unknown feature network"):
        feature_net("alexnet")


def test_missing_classifier_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="nogancolor train classifier"):
        feature_net("classifier", tmp_path / "none.safetensors")


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


def test_classifier_trains_above_chance_on_a_separable_set(classifier):
    path, config = classifier
    assert config["test_accuracy"] >= 0.9  # two classes: chance is 0.5
    model, loaded = load_classifier(path)
    assert loaded["test_accuracy"] == config["test_accuracy"]
    assert [f.shape[1] for f in model.features(torch.rand(2, 3, 32, 32))] == [8, 16, 32]
    # the test accuracy measured at export (fastai's validate) adds no row to the history
    with open(path.parent / "history.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1", "2", "3"]


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
    learn = joint_learner(dls, UNet(base=4), PairCritic(nf=4), FrozenFeatures(Doubling(), (1.0, 1.0)),
                          JointStageConfig(critic_lr_mult=5.0, critic_thresh=0.9, select="psnr"), log=False)
    learn.add_cb(rates)
    with learn.no_bar(), learn.no_logging():
        learn.fit(2, 1e-3)
    assert {mode for mode, _ in rates.seen} == {True, False}  # both networks stepped
    for gen_mode, lr in rates.seen:
        assert lr == pytest.approx(1e-3 if gen_mode else 5e-3)
    assert learn.opt.hypers[0]["lr"] == pytest.approx(1e-3)
    assert learn.opt.hypers[0]["wd"] == pytest.approx(1e-3) and learn.opt.hypers[0]["mom"] == 0.0  # AdamW, betas (0, 0.9)


def test_the_fcd_rule_needs_the_classifier():
    with pytest.raises(ValueError, match="needs the project's classifier"):
        joint_learner(None, UNet(base=4), PairCritic(nf=4), FrozenFeatures(Doubling(), (1.0,)), JointStageConfig(select="fcd"))


def test_joint_phase_curves_are_drawn_without_the_realism_columns_too(tmp_path):
    from nogancolor.evaluation.figures import joint_phase_curves

    (tmp_path / "h.csv").write_text("epoch,psnr,time\n0,24.0,00:01\n1,24.2,00:01\n")
    path = joint_phase_curves(tmp_path / "h.csv", 1, 10, None, None, tmp_path / "curves.png")
    assert min(Image.open(path).size) > 200




def test_the_colour_classifier_is_loaded_once_as_feature_net_and_judge(prepared, classifier, monkeypatch):
    from nogancolor.methods.nogan import networks
    from nogancolor.models import classifier as module

    loads, load_weights = [], module.load_weights
    monkeypatch.setattr(module, "load_weights", lambda model, path: loads.append(path) or load_weights(model, path))
    config = NoGANConfig(data=str(prepared), classifier=str(classifier[0]))
    features, judge = networks(config)
    assert loads == [classifier[0]] and judge is features.net
