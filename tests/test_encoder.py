"""DeOldify's generator for NoGAN and the U-Net: fastai's DynamicUnet with self-attention, spectral
norm and blur, its encoder from a classifier trained on gray CIFAR-10 (or ImageNet, online)."""

import socket

import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from nogancolor.methods import train
from nogancolor.methods.classifier import ClassifierConfig
from nogancolor.methods.nogan import (
    CriticStageConfig,
    GeneratorStageConfig,
    JointStageConfig,
    NoGANConfig,
    train_nogan,
)
from nogancolor.models import build_generator, load_generator
from nogancolor.models.classifier import load_classifier
from nogancolor.models.dynamic import load_encoder
from nogancolor.models.names import DEOLDIFY_UNET

runner = CliRunner()


@pytest.fixture(scope="module")
def gray_resnet(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("gray-resnet")
    config = train(ClassifierConfig(data=str(prepared), arch="resnet18", gray=True, epochs=1, bs=8), out, progress=False)
    return out / "model.safetensors", config


@pytest.fixture(scope="module")
def rgb_classifier(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("cifarnet")
    train(ClassifierConfig(data=str(prepared), epochs=1, bs=8, base=4), out, progress=False)
    return out / "model.safetensors"


def test_a_gray_classifiers_body_lands_in_the_dynamic_unet_encoder(gray_resnet):
    import safetensors.torch

    path, config = gray_resnet
    assert config["arch"] == "resnet18" and config["gray"] is True
    saved = safetensors.torch.load_file(str(path))
    unet = build_generator("resnet18", **DEOLDIFY_UNET)
    encoder = unet[0].state_dict()
    assert not torch.equal(encoder["0.weight"], saved["body.0.weight"])  # a fresh encoder differs
    assert encoder["0.weight"].shape[1] == 1  # it takes L
    load_encoder(unet, path)
    for key, value in unet[0].state_dict().items():
        assert torch.equal(value, saved[f"body.{key}"]), key


def test_encoders_that_do_not_fit_are_refused_in_words(gray_resnet, rgb_classifier):
    with pytest.raises(ValueError, match="not a classifier of gray images.*--arch resnet18 --gray"):
        load_encoder(build_generator("resnet18"), rgb_classifier)
    with pytest.raises(ValueError, match="holds a resnet18 encoder, which does not fit.*--arch resnet18"):
        load_encoder(build_generator("resnet34"), gray_resnet[0])
    with pytest.raises(ValueError, match="an encoder for --encoder; the feature loss and the metrics need a colour classifier"):
        load_classifier(gray_resnet[0])


def test_nogan_trains_deoldifys_dynamic_unet_from_the_gray_encoder(prepared, gray_resnet, rgb_classifier, tmp_path):
    config = NoGANConfig(data=str(prepared), arch="resnet18", encoder=str(gray_resnet[0]), classifier=str(rgb_classifier),
                         bs=8, n_train=16, generator=GeneratorStageConfig(epochs=1), critic=CriticStageConfig(epochs=1, nf=4),
                         gan=JointStageConfig(epochs=0.5, val_every=2))
    results = train_nogan(config, tmp_path / "run", progress=False, log=lambda m: None)
    generator, config = load_generator(tmp_path / "run" / "model.safetensors")
    assert config["arch"] == "resnet18" and config["arch_kwargs"] == DEOLDIFY_UNET and results[1].record["arch"] == "resnet18"
    names = {type(m).__name__ for m in generator.modules()}
    assert "SelfAttention" in names and "PixelShuffle_ICNR" in names
    assert any(name.endswith("weight_orig") for name, _ in generator.named_parameters())  # spectral norm
    assert generator(torch.zeros(2, 1, 32, 32)).shape == (2, 2, 32, 32)


def test_the_command_line_trains_a_dynamic_unet_from_an_encoder_and_refuses_misuse(prepared, gray_resnet, tmp_path):
    args = ["train", "unet", "--data", str(prepared), "--epochs", "1", "--bs", "8", "--n-train", "16"]
    result = runner.invoke(app, [*args, "--arch", "resnet18", "--encoder", str(gray_resnet[0]), "--out", str(tmp_path / "u")])
    assert result.exit_code == 0, result.output
    assert load_generator(tmp_path / "u" / "model.safetensors")[1]["arch"] == "resnet18"
    for extra, fragment in ((["--encoder", str(gray_resnet[0])], "--encoder fills a DynamicUnet's encoder"),
                            (["--arch", "resnet18", "--pretrained"], "could not fetch pretrained weights for resnet18")):
        result = runner.invoke(app, [*args, *extra, "--out", str(tmp_path / "x"), "--force"])
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert result.exit_code != 0 and len(errors) == 1 and fragment in errors[0], result.output
        assert "Traceback" not in result.output  # (torch may say which file it tried to download)
    result = runner.invoke(app, ["train", "classifier", "--data", str(prepared), "--gray", "--out", str(tmp_path / "c")])
    assert result.exit_code != 0 and "--gray trains an encoder for DynamicUnet generators" in result.output


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """As on machines without internet: any download fails at once."""
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_the_stronger_classifier_trains_and_serves_as_feature_network_and_judge(prepared, tmp_path):
    from nogancolor.evaluation.evaluate import classify
    from nogancolor.models.classifier import CifarResNet
    from nogancolor.models.features import feature_net

    config = train(ClassifierConfig(data=str(prepared), arch="cifar-resnet18", epochs=1, bs=8), tmp_path / "r", progress=False)
    model, loaded = load_classifier(tmp_path / "r" / "model.safetensors")
    assert isinstance(model, CifarResNet) and loaded["arch"] == "cifar-resnet18" and config["gray"] is False
    assert model.stem[0].stride == (1, 1) and model.stem[0].kernel_size == (3, 3)  # the CIFAR stem keeps 32x32
    rgb = torch.rand(2, 3, 32, 32)
    maps = feature_net("classifier", tmp_path / "r" / "model.safetensors")(rgb)
    assert [m.shape[1:] for m in maps] == [(128, 16, 16), (256, 8, 8), (512, 4, 4)]
    logits, pooled = classify(model, rgb)
    # one logit per class of the tiny set (two)
    assert logits.shape == (2, 2) and pooled.shape == (2, 512) and torch.allclose(logits, model(rgb))
    with pytest.raises(ValueError, match="--arch resnet18 needs --gray"):
        train(ClassifierConfig(data=str(prepared), arch="resnet18", epochs=1, bs=8), tmp_path / "x", progress=False)


def test_the_classifier_has_as_many_outputs_as_the_dataset_has_classes(image_folder, tmp_path):
    """Tiny-ImageNet has 200 classes: a classifier fixed at CIFAR-10's 10 failed on its labels."""
    import shutil

    from nogancolor.data import prepare_dataset
    from nogancolor.methods import train
    from nogancolor.methods.classifier import ClassifierConfig
    from nogancolor.models.classifier import load_classifier

    many = tmp_path / "many"
    for subset in ("train", "test"):
        files = sorted((image_folder / subset).rglob("*.png"))
        for i, f in enumerate(files):  # the tiny images spread over 12 classes
            (many / subset / f"class{i % 12:02d}").mkdir(parents=True, exist_ok=True)
            shutil.copy(f, many / subset / f"class{i % 12:02d}" / f.name)
    prepare_dataset(many, tmp_path / "prepared", progress=False)
    train(ClassifierConfig(data=str(tmp_path / "prepared"), epochs=1, bs=8, base=4), tmp_path / "cls", progress=False)
    model, record = load_classifier(tmp_path / "cls" / "model.safetensors")
    assert record["arch_kwargs"]["n_classes"] == 12
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 12)
