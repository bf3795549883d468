import csv
import json

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    """Default paths (data/cifar10, runs/...) resolve inside a fresh folder."""
    monkeypatch.chdir(tmp_path)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_explains_commands_and_options():
    assert "data" in run("--help").output and "train" in run("--help").output
    text = run("train", "unet", "--help").output
    for option in ("--split", "--arch", "--epochs", "--resume", "--precision", "DynamicUnet"):
        assert option in text


def test_missing_dataset(tmp_path):
    assert_one_line_error(run("data", "prepare", "--path", tmp_path / "nope", "--out", tmp_path / "out"), "no train/ folder")


def test_corrupt_dataset(tmp_path):
    for subset in ("train", "test"):
        (tmp_path / "src" / subset / "cat").mkdir(parents=True)
        (tmp_path / "src" / subset / "cat" / "0000.png").write_text("this is text, not an image")
    assert_one_line_error(run("data", "prepare", "--path", tmp_path / "src", "--out", tmp_path / "out"), "could not be read", "corrupt")


def test_truncated_archive(tmp_path):
    (tmp_path / "cifar.tar.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    assert_one_line_error(run("data", "prepare", "--path", tmp_path / "cifar.tar.gz", "--out", tmp_path / "out"), "could not unpack")


def test_a_failed_download_is_one_line_with_no_progress_block_before_it(tmp_path, monkeypatch):
    from fastai.data.external import URLs

    monkeypatch.setattr(URLs, "CIFAR", "http://127.0.0.1:9/cifar10.tgz")  # refused at once: nothing listens there
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai"))
    assert_one_line_error(run("data", "prepare", "--out", tmp_path / "out"), "could not download", "--path")


def test_photo_folders_get_their_own_prepared_folder_and_another_one_is_never_replaced(image_folder, tmp_path,
                                                                                       monkeypatch):
    import shutil

    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "my_photos"
    shutil.copytree(image_folder / "train", photos / "train")
    shutil.copytree(image_folder / "test", photos / "val")  # the held-out part under fastai's name
    result = run("data", "prepare", "--path", photos)
    assert result.exit_code == 0, result.output
    assert "prepared dataset: data/my_photos" in result.output and (tmp_path / "data/my_photos/meta.json").exists()
    assert not (tmp_path / "data/cifar10").exists()
    assert_one_line_error(run("data", "prepare", "--path", image_folder, "--out", "data/my_photos"),
                          "holds the prepared dataset 'my_photos', not 'tinycifar'", "--force")
    result = run("data", "prepare", "--path", image_folder, "--out", "data/my_photos", "--force")
    assert result.exit_code == 0 and json.loads((tmp_path / "data/my_photos/meta.json").read_text())["name"] == "tinycifar"


def test_a_size_that_is_not_a_multiple_of_32_and_a_folder_without_held_out_part(image_folder, tmp_path):
    import shutil

    assert_one_line_error(run("data", "prepare", "--path", image_folder, "--out", tmp_path / "o", "--size", 100),
                          "--size 100 is not a multiple of 32", "96 or 128")
    shutil.copytree(image_folder / "train", tmp_path / "only_train" / "train")
    assert_one_line_error(run("data", "prepare", "--path", tmp_path / "only_train", "--out", tmp_path / "o"),
                          "no held-out part", "test/ or", "val/")


def test_a_profile_refuses_data_prepared_at_another_size(prepared, tmp_path):
    result = run("compare", "--data", prepared, "--profile", "photo", "--runs", tmp_path / "runs")
    assert_one_line_error(result, "photo profile trains on images prepared at 64 px", "holds 32 px",
                          "data prepare --size 64")
    assert not (tmp_path / "runs").exists()  # refused before anything trained
    assert_one_line_error(run("compare", "--data", tmp_path / "none", "--profile", "photo"), "not a prepared dataset")


def test_training_on_unprepared_data_says_what_to_do(tmp_path):
    assert_one_line_error(run("train", "unet", "--data", tmp_path), "nogancolor data prepare")
    assert not (tmp_path / "runs" / "unet-hue" / "run.json").exists()  # a failed start leaves no run behind


def test_unknown_encoder(prepared, tmp_path):
    args = ("train", "unet", "--data", prepared, "--bs", 8, "--epochs", 1, "--base", 8, "--out", tmp_path / "r")
    assert_one_line_error(run(*args, "--arch", "nonet"), "unknown encoder")
    assert run(*args).exit_code == 0  # the failed start did not claim the directory


def test_batch_larger_than_the_dataset(prepared, tmp_path):
    assert_one_line_error(run("train", "unet", "--data", prepared, "--out", tmp_path / "r"), "fewer than one batch of 64", "batch size")


def test_prepare_then_train_then_refuse_to_overwrite(image_folder, tmp_path):
    data = tmp_path / "data"
    result = run("data", "prepare", "--path", image_folder, "--out", data)
    assert result.exit_code == 0, result.output
    assert "train: 43 images, 3 gray dropped, 40 kept" in result.output
    assert "split hue: 36 train / 4 val" in result.output

    args = ("train", "unet", "--data", data, "--epochs", "1", "--bs", "8", "--base", "8", "--out", tmp_path / "run")
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "val PSNR" in result.output and (tmp_path / "run" / "model.safetensors").exists()
    assert_one_line_error(run(*args), "--resume", "--force")
    assert run(*args, "--force").exit_code == 0


def test_train_dcgan_from_the_command_line(prepared, tmp_path):
    result = run("train", "dcgan", "--data", prepared, "--epochs", "1", "--bs", "8", "--base", "8", "--out", tmp_path / "gan")
    assert result.exit_code == 0, result.output
    assert "val PSNR" in result.output and (tmp_path / "gan" / "model.safetensors").exists()
    assert "--l1-weight" in run("train", "dcgan", "--help").output and "--output" in run("train", "dcgan", "--help").output


def test_train_classifier_then_nogan_from_the_command_line(prepared):
    assert_one_line_error(run("train", "nogan", "--data", prepared, "--bs", 8), "no classifier of the project's", "train classifier")
    result = run("train", "classifier", "--data", prepared, "--epochs", 1, "--bs", 8, "--base", 8)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "runs/classifier/model.safetensors" in result.output
    args = ("train", "nogan", "--data", prepared, "--bs", 8, "--base", 8, "--critic-nf", 8, "--gen-epochs", 1,
            "--gan-epochs", 0.5, "--val-every", 2)
    result = run(*args)
    assert result.exit_code == 0, result.output
    for line in ("stage 1/3", "stage 2/3", "stage 3/3", "generator pretraining: val ab MSE",
                 "critic pretraining: val accuracy", "NoGAN: val ab MSE"):
        assert line in result.output
    assert "done, skipped" in run(*args).output
    old_name = run(*args, "--feature-net", "cifar")  # the old name of the default, taken with a note
    assert old_name.exit_code == 0 and "note: --feature-net cifar is now called classifier" in old_name.output
    assert "done, skipped" in old_name.output
    result = run(*args, "--stage", 2, "--force")  # a stage alone reports that stage, and the run is not exported anew
    assert result.exit_code == 0 and "critic pretraining: val accuracy" in result.output, result.output
    assert "NoGAN: val ab MSE" not in result.output
    result = run(*args, "--stage", 3, "--force", "--adv-balance", 0.25, "--critic-thresh", 10)  # generator steps: weights logged
    assert result.exit_code == 0, result.output
    with open("runs/nogan-hue/3-gan/history.csv") as f:
        weights = [float(row["g_adv_weight"]) for row in csv.DictReader(f) if row["g_adv_weight"] != "None"]
    assert weights and all(w > 0 and w != 1.0 for w in weights)  # set by the gradients, not the fixed default
    text = run("train", "nogan", "--help").output
    for option in ("--stage", "--feature-net", "--gan-epochs", "--val-every", "[classifier|imagenet|vgg16_bn]"):
        assert option in text
    assert "cifar|" not in text
