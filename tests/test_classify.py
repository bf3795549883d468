"""Zhang et al.'s colour classification: the bins, soft-encoding, rebalancing and annealed mean
against hand-computed values, and the method through train, predict and serve."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from cli.main import app as cli_app
from nogancolor.color import AB_SCALE
from nogancolor.data.ab_prior import ab_counts, counts_path
from nogancolor.models.bins import BinsAsAB, ColourBins, RebalancedSoftCE, annealed_mean, grid_centers, soft_encode


def test_soft_encoding_spreads_a_pixel_over_its_nearest_bins_by_a_gaussian():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [20.0, 20.0]])
    ab = torch.tensor([3.0, 0.0]).view(1, 2, 1, 1) / AB_SCALE
    idx, weights = soft_encode(ab, centers, k=2, sigma=5.0)
    near, far = math.exp(-9 / 50), math.exp(-49 / 50)  # squared distances 9 and 49, 2 sigma^2 = 50
    assert idx.tolist() == [[0, 1]]
    assert weights[0].tolist() == pytest.approx([near / (near + far), far / (near + far)], rel=1e-5)


def test_rebalancing_weights_follow_the_prior_and_have_mean_one_under_it():
    counts = np.array([3, 1, 0, 0])  # bins of 110: a 2x2 grid; two bins seen, 3:1
    bins = ColourBins(counts, bin_size=110.0, sigma=0.1, lam=0.5)  # sigma << bin: no smoothing
    assert bins.kept.tolist() == [0, 1] and bins.prior.tolist() == pytest.approx([0.75, 0.25])
    raw = np.array([1 / (0.5 * 0.75 + 0.5 / 2), 1 / (0.5 * 0.25 + 0.5 / 2)])  # 1.6 and 2.667
    assert bins.weights.tolist() == pytest.approx((raw / (0.75 * raw[0] + 0.25 * raw[1])).tolist())
    assert bins.weights.tolist() == pytest.approx([0.857143, 1.428571], rel=1e-5)
    assert ColourBins(counts, 110.0, sigma=0.1, lam=1.0).weights.tolist() == pytest.approx([1.0, 1.0])
    assert bins.centers.tolist() == [[-55.0, -55.0], [-55.0, 55.0]] == grid_centers(110.0)[:2].tolist()
    with pytest.raises(ValueError, match="do not fit the grid"):
        ColourBins(np.ones(5), 110.0)


def test_the_loss_is_the_weighted_cross_entropy_of_the_nearest_bin():
    bins = ColourBins(np.array([3, 1, 0, 0]), bin_size=110.0, sigma=0.1, lam=0.5)
    logits = torch.tensor([1.0, -0.5]).view(1, 2, 1, 1)
    ab = torch.tensor([-55.0, 50.0]).view(1, 2, 1, 1) / AB_SCALE  # near bin 1; bin 0 is 105 away: weight ~0
    expected = -torch.log_softmax(logits.flatten(), 0)[1].item() * bins.weights[1]
    assert RebalancedSoftCE(bins, k=5, sigma=5.0)(logits, ab).item() == pytest.approx(expected, rel=1e-5)


def test_the_loss_over_a_batch_is_the_mean_of_every_pixels_own_soft_cross_entropy():
    """Each pixel against its own targets, whatever the batch's layout: the dense reference builds
    every pixel's soft target over all Q bins by brute-force distances."""
    torch.manual_seed(0)
    counts = np.zeros(len(grid_centers(10.0)))
    counts[[200, 201, 222, 223, 245, 300]] = [5, 1, 3, 2, 8, 1]
    bins = ColourBins(counts, 10.0, sigma=5.0, lam=0.5)
    logits, ab = torch.randn(2, len(bins), 3, 4), torch.randn(2, 2, 3, 4) * 0.1
    centers, total = torch.tensor(bins.centers, dtype=torch.float32), 0.0
    for n, y, x in np.ndindex(2, 3, 4):
        d2 = ((ab[n, :, y, x] * AB_SCALE - centers) ** 2).sum(1)
        near = d2.argsort()[:3]
        target = torch.zeros(len(bins)).index_put((near,), torch.softmax(-d2[near] / 50, 0))
        log_p = torch.log_softmax(logits[n, :, y, x], 0)
        total += -(target * log_p).sum() * bins.weights[near[0]]
    assert RebalancedSoftCE(bins, k=3, sigma=5.0)(logits, ab).item() == pytest.approx(total.item() / 24, rel=1e-5)


def test_at_a_stride_the_distribution_is_the_pooled_logits_against_the_pooled_truth_upsampled():
    """Zhang et al.'s quarter resolution: the loss at stride 2 is the loss of 2x2-pooled logits and
    ab; the decoding is the pooled logits' annealed mean, upsampled bilinearly to the input's size."""
    torch.manual_seed(0)
    counts = np.zeros(len(grid_centers(10.0)))
    counts[[200, 201, 222, 223, 245]] = [5, 1, 3, 2, 8]
    bins = ColourBins(counts, 10.0)
    logits, ab = torch.randn(2, len(bins), 4, 6), torch.randn(2, 2, 4, 6) * 0.1
    pooled = torch.nn.functional.avg_pool2d(logits, 2)
    assert RebalancedSoftCE(bins, stride=2)(logits, ab).item() == pytest.approx(
        RebalancedSoftCE(bins)(pooled, torch.nn.functional.avg_pool2d(ab, 2)).item(), rel=1e-6)
    head = BinsAsAB(torch.nn.Identity(), len(bins), temperature=0.5, stride=2)
    head.centers.copy_(torch.tensor(bins.centers))
    coarse = annealed_mean(pooled, head.centers, 0.5)
    assert coarse.shape == (2, 2, 2, 3)
    expected = torch.nn.functional.interpolate(coarse, size=(4, 6), mode="bilinear", align_corners=False)
    assert torch.allclose(head(logits), expected, atol=1e-6)


def test_the_annealed_mean_at_t1_is_the_distributions_mean_and_goes_to_the_mode():
    torch.manual_seed(0)
    logits, centers = torch.randn(2, 6, 3, 4), torch.randn(6, 2) * 40
    mean = torch.einsum("nqhw,qc->nchw", torch.softmax(logits, 1), centers) / AB_SCALE
    assert torch.allclose(annealed_mean(logits, centers, 1.0), mean, atol=1e-6)
    logits = logits.scatter_add(1, logits.argmax(1, keepdim=True), torch.ones(2, 1, 3, 4))  # a clear mode
    mode = centers[logits.argmax(1)].permute(0, 3, 1, 2) / AB_SCALE
    assert torch.allclose(annealed_mean(logits, centers, 0.01), mode, atol=1e-3)
    for bad in (0.0, -0.5):
        with pytest.raises(ValueError, match="is not positive"):
            annealed_mean(logits, centers, bad)


def test_vividness_undoes_the_rebalancing_weights_at_decoding():
    torch.manual_seed(0)
    logits, centers = torch.randn(2, 3, 2, 2), torch.tensor([[-40.0, 0.0], [0.0, 30.0], [50.0, 50.0]])
    log_w = [0.7, -0.4, 1.2]
    head = BinsAsAB(torch.nn.Identity(), 3, temperature=1.0, log_weights=log_w)
    head.centers.copy_(centers)
    assert torch.equal(head(logits), annealed_mean(logits, centers, 1.0))  # vividness 1: as trained
    head.vividness = 0  # the posterior: the trained distribution divided by the weights, normalised
    q = torch.softmax(logits, 1) / torch.tensor(log_w).exp().view(1, 3, 1, 1)
    posterior_mean = torch.einsum("nqhw,qc->nchw", q / q.sum(1, keepdim=True), centers) / AB_SCALE
    assert torch.allclose(head(logits), posterior_mean, atol=1e-6)
    head.vividness = 0.5
    half = annealed_mean(logits - 0.5 * torch.tensor(log_w).view(1, 3, 1, 1), centers, 0.6)
    assert torch.allclose(head(logits, 0.6), half, atol=1e-6)
    with pytest.raises(ValueError, match=r"vividness 1.5 is not in \[0, 1\]"):
        head.vividness = 1.5
    with pytest.raises(ValueError, match="exported without its rebalancing weights"):
        BinsAsAB(torch.nn.Identity(), 3).vividness = 0.5


def test_the_prior_is_stored_beside_the_split_and_counted_again_for_a_new_split(prepared, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    counts = ab_counts(data, "hue", 10.0)
    images = np.load(data / "train_images.npy")
    split = json.loads((data / "splits" / "hue.json").read_text())
    assert counts.sum() == len(split["train"]) * images[0, 0].size  # every training pixel, once
    stored = counts_path(data, "hue", 10.0)
    record = json.loads(stored.read_text())
    record["counts"] = [7] * len(record["counts"])  # a stored record is read as it is
    stored.write_text(json.dumps(record))
    assert ab_counts(data, "hue", 10.0).tolist() == record["counts"]
    split["train"] = split["train"][:3]  # the dataset split anew: the stored counts are stale
    (data / "splits" / "hue.json").write_text(json.dumps(split))
    assert ab_counts(data, "hue", 10.0).sum() == 3 * images[0, 0].size


@pytest.fixture(scope="module")
def classify_model(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("classify") / "run"
    result = CliRunner().invoke(cli_app, ["train", "classify", "--data", str(prepared), "--epochs", "2", "--bs", "8",
                                          "--base", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Classification: val ab MSE" in result.output
    return out / "model.safetensors"


def test_train_classify_exports_its_distribution_head(classify_model):
    from nogancolor.models import load_generator

    config = json.loads(classify_model.with_suffix(".json").read_text())
    assert config["method"] == "classify" and config["output"] == "bins"
    assert config["bins"]["temperature"] == 0.38 and config["arch_kwargs"]["n_bins"] == config["bins"]["n"]
    model, _ = load_generator(classify_model)
    assert isinstance(model, BinsAsAB) and model.temperature == 0.38
    assert model.net(torch.zeros(1, 1, 32, 32)).shape == (1, config["bins"]["n"], 32, 32)
    assert (model.centers.abs().sum(1) > 0).all()  # the bin centres travel in the weights
    assert len(config["arch_kwargs"]["log_weights"]) == config["bins"]["n"] and model.vividness == 1
    assert config["arch_kwargs"]["stride"] == model.stride == 1  # every pixel's distribution, by default
    model.vividness = 0  # the rebalancing weights travel in model.json
    l_norm = torch.rand(1, 1, 32, 32) * 2 - 1
    assert not torch.allclose(model(l_norm), load_generator(classify_model)[0](l_norm))
    sweep = config["temperature_sweep"]
    assert [p["T"] for p in sweep["points"]] == [1.0, 0.75, 0.6, 0.5, 0.38, 0.3, 0.2]
    exported = next(p for p in sweep["points"] if p["T"] == 0.38)  # the default T is the exported model's val PSNR
    assert exported["psnr"] == pytest.approx(config["metrics"]["val_psnr"], abs=1e-3)
    assert sweep["val_psnr_gray_output"] == pytest.approx(config["metrics"]["val_psnr_gray_output"], abs=1e-3)
    assert (classify_model.parent / "temperature_sweep.png").stat().st_size > 1000
    vivid = config["vividness_sweep"]["points"]
    assert [(p["T"], p["vividness"]) for p in vivid] == [(0.38, v) for v in (1.0, 0.75, 0.5, 0.25, 0.0)]
    assert vivid[0]["psnr"] == exported["psnr"]  # the same decoding, measured once


def photo() -> Image.Image:
    yy, xx = np.mgrid[0:48, 0:72]
    return Image.fromarray(np.stack([xx * 3, yy * 5, 255 - xx * 3], -1).astype(np.uint8))


def test_predict_and_serve_decode_an_exported_model_the_same_at_any_temperature_and_vividness(classify_model):
    import base64
    import io

    from nogancolor.apps.colorize import Colorizer
    from nogancolor.apps.serve import create_app

    colorizer = Colorizer.from_checkpoint(classify_model, device="cpu")
    client = TestClient(create_app({"classify": colorizer}))
    assert client.get("/api/models").json()[0]["temperature"] == 0.38
    buffer = io.BytesIO()
    photo().save(buffer, format="PNG")
    for temperature in (None, 0.6):
        params = {"models": "classify", **({"temperature": temperature} if temperature else {})}
        served = client.post("/api/colorize", params=params, content=buffer.getvalue()).json()["results"][0]["image"]
        served = np.array(Image.open(io.BytesIO(base64.b64decode(served.split(",", 1)[1]))).convert("RGB"))
        assert (served == np.array(colorizer.colorize(photo(), temperature))).all()
    assert not (np.array(colorizer.colorize(photo(), 0.2)) == np.array(colorizer.colorize(photo(), 1.0))).all()
    refused = client.post("/api/colorize", params={"temperature": 0}, content=buffer.getvalue())
    assert refused.status_code == 400 and "is not positive" in refused.json()["detail"]
    assert client.get("/api/models").json()[0]["vividness"] == 1.0
    served = client.post("/api/colorize", params={"models": "classify", "temperature": 0.6, "vividness": 0.3},
                         content=buffer.getvalue()).json()["results"][0]["image"]
    served = np.array(Image.open(io.BytesIO(base64.b64decode(served.split(",", 1)[1]))).convert("RGB"))
    assert (served == np.array(colorizer.colorize(photo(), 0.6, 0.3))).all()
    assert colorizer.model.vividness == 1.0  # per call: the shared model's own setting is untouched
    refused = client.post("/api/colorize", params={"vividness": 1.5}, content=buffer.getvalue())
    assert refused.status_code == 400 and "is not in [0, 1]" in refused.json()["detail"]


def test_predict_takes_a_temperature_and_refuses_a_bad_one_in_one_line(classify_model, tmp_path, prepared):
    photo().save(tmp_path / "photo.png")
    runner = CliRunner()
    done = runner.invoke(cli_app, ["predict", str(tmp_path / "photo.png"), "--model", str(classify_model),
                                   "--temperature", "0.5"])
    assert done.exit_code == 0 and "temperature 0.5" in done.output, done.output
    for bad in ("0", "-1"):
        refused = runner.invoke(cli_app, ["predict", str(tmp_path / "photo.png"), "--model", str(classify_model),
                                          "--temperature", bad])
        assert refused.exit_code == 1 and refused.output.strip().count("\n") == 0 and "is not positive" in refused.output
    refused = runner.invoke(cli_app, ["train", "classify", "--data", str(prepared), "--temperature", "0"])
    assert refused.exit_code == 1 and "is not positive" in refused.output and refused.output.strip().count("\n") == 0
    out = {}
    for vividness in ("0", "1"):
        out[vividness] = tmp_path / f"v{vividness}.png"
        done = runner.invoke(cli_app, ["predict", str(tmp_path / "photo.png"), "--model", str(classify_model),
                                       "--vividness", vividness, "-o", str(out[vividness])])
        assert done.exit_code == 0 and f"vividness {vividness}" in done.output, done.output
    assert np.array(Image.open(out["0"])).tolist() != np.array(Image.open(out["1"])).tolist()
    refused = runner.invoke(cli_app, ["predict", str(tmp_path / "photo.png"), "--model", str(classify_model),
                                      "--vividness", "1.5"])
    assert refused.exit_code != 0 and refused.output.strip().count("\n") <= 1 and "1.5" in refused.output


def test_a_temperature_for_a_model_without_a_distribution_is_refused(prepared, tmp_path):
    from nogancolor.methods import train
    from nogancolor.methods.unet import UNetConfig

    train(UNetConfig(data=str(prepared), epochs=1, bs=8, base=8), tmp_path / "unet", progress=False)
    photo().save(tmp_path / "photo.png")
    refused = CliRunner().invoke(cli_app, ["predict", str(tmp_path / "photo.png"), "--model",
                                           str(tmp_path / "unet" / "model.safetensors"), "--temperature", "0.5"])
    assert refused.exit_code == 1 and "applies to colour-classification models" in refused.output
    refused = CliRunner().invoke(cli_app, ["predict", str(tmp_path / "photo.png"), "--model",
                                           str(tmp_path / "unet" / "model.safetensors"), "--vividness", "0.5"])
    assert refused.exit_code == 1 and "--vividness applies to colour-classification models" in refused.output
    assert Path(tmp_path / "photo_color.png").exists() is False


def test_a_bundled_temperature_is_predicts_default_for_that_model(classify_model, tmp_path):
    from nogancolor.apps import bundled
    from nogancolor.apps.colorize import Colorizer

    path = bundled.bundle(classify_model, {"metrics": {}}, tmp_path / "photo.safetensors", temperature=0.6)
    colorizer = Colorizer.from_checkpoint(path, device="cpu")
    assert colorizer.default_temperature == 0.6 and json.loads(path.with_suffix(".json").read_text())["arch_kwargs"]["temperature"] == 0.6
    original = Colorizer.from_checkpoint(classify_model, device="cpu")
    same = np.abs(np.array(colorizer.colorize(photo())).astype(int) - np.array(original.colorize(photo(), 0.6))).max()
    assert same <= 2  # the fp16 copy decodes as the original does at that temperature
    path = bundled.bundle(classify_model, {"metrics": {}}, tmp_path / "vivid.safetensors", temperature=0.6, vividness=0.3)
    assert Colorizer.from_checkpoint(path, device="cpu").model.vividness == 0.3
    original.model.vividness = 0.3
    same = np.abs(np.array(Colorizer.from_checkpoint(path, device="cpu").colorize(photo())).astype(int)
                  - np.array(original.colorize(photo(), 0.6))).max()
    assert same <= 2


def test_classify_starts_from_a_regressor_of_ab_all_but_its_output_layer(prepared, classify_model, tmp_path):
    from nogancolor.files import CheckpointError
    from nogancolor.methods.classify import ClassifyConfig, ClassifyMethod
    from nogancolor.methods.unet import UNetConfig, UNetMethod
    from nogancolor.models import load_generator
    from nogancolor.train.run import run_training

    small = dict(data=str(prepared), base=8, epochs=1, bs=8, n_train=16, n_val=8)
    run_training(UNetMethod(UNetConfig(**small), tmp_path / "ab"), progress=False)
    regressor = tmp_path / "ab" / "model.safetensors"
    theirs = load_generator(regressor)[0].state_dict()
    method = ClassifyMethod(ClassifyConfig(**small, init_from=str(regressor)), tmp_path / "bins")
    method.build(method.dataloaders())
    mine = method.head.net.state_dict()
    head = [k for k in mine if mine[k].shape != theirs[k].shape]
    assert len(head) == 2 and mine[head[0]].shape[0] == len(method.bins)  # the output conv's weight and bias
    assert all(torch.equal(mine[k], theirs[k]) for k in mine if k not in head)
    assert method.head.net.training

    with pytest.raises(CheckpointError, match="is a generator of bins; this run trains one of ab, which starts from "
                                              "a generator of ab only"):
        UNetMethod(UNetConfig(**small, init_from=str(classify_model)), tmp_path / "back").generator_at((32, 32))


def test_a_model_trained_at_a_stride_is_exported_and_decoded_at_it(prepared, tmp_path):
    from nogancolor.methods.classify import ClassifyConfig, ClassifyMethod
    from nogancolor.models import load_generator
    from nogancolor.train.run import run_training

    config = ClassifyConfig(data=str(prepared), base=8, epochs=1, bs=8, n_train=16, n_val=8, stride=4)
    run_training(ClassifyMethod(config, tmp_path / "quarter"), progress=False)
    model, record = load_generator(tmp_path / "quarter" / "model.safetensors")
    assert record["arch_kwargs"]["stride"] == model.stride == 4
    l_norm = torch.rand(1, 1, 32, 32) * 2 - 1
    ab, logits = model(l_norm), model.net(l_norm)
    coarse = annealed_mean(torch.nn.functional.avg_pool2d(logits, 4), model.centers, model.temperature)
    assert torch.allclose(ab, torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear"), atol=1e-5)
