"""Adding a method is adding one file: tests/methods/toy.py, dropped into the methods folder, gets
`train toy`, a row in compare's report, evaluation and a place in predict's choice, with nothing
else edited."""

import importlib
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import nogancolor.methods

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def toy_app():
    """The command line as it is with tests/methods/ beside nogancolor/methods/ (where a user's
    new file would lie): the registry finds the file by itself."""
    nogancolor.methods.__path__.append(str(HERE / "methods"))
    importlib.import_module("nogancolor.methods.toy")  # as nogancolor/methods/__init__.py imports each file there
    import cli.main

    yield importlib.reload(cli.main).app
    nogancolor.methods.__path__.remove(str(HERE / "methods"))
    nogancolor.methods.REGISTRY.pop("toy")
    sys.modules.pop("nogancolor.methods.toy")
    importlib.reload(cli.main)


def test_a_method_in_one_file_trains_compares_evaluates_and_predicts(toy_app, prepared, tmp_path, monkeypatch):
    from nogancolor.apps.predict import find_model
    from nogancolor.methods import REGISTRY, by_preference, by_rank
    from nogancolor.study.compare import compare
    from nogancolor.study.profiles import profile_from_record

    assert REGISTRY["toy"].label == "U-Net (L1)" and "toy" in by_preference() and by_rank()[-1].name == "toy"
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    assert "L1 of ab" in runner.invoke(toy_app, ["train", "toy", "--help"]).output
    result = runner.invoke(toy_app, ["train", "toy", "--data", str(prepared), "--epochs", "1", "--bs", "8"])
    assert result.exit_code == 0, result.output
    assert "U-Net (L1): val ab MSE" in result.output and Path("runs/toy-hue/model.safetensors").exists()

    record = {"n_eval": 6, "classifier": {"epochs": 1, "bs": 8, "base": 8}, "toy": {"epochs": 1, "bs": 8, "n_train": 16}}
    report = compare(prepared, profile_from_record("tiny", record), out=tmp_path / "report", runs=tmp_path / "cmp",
                     progress=False, log=lambda m: None)
    text = (report / "report.md").read_text()
    assert "| U-Net (L1) | hue | 1 |" in text and "| U-Net (L1) | random | 1 |" in text

    result = runner.invoke(toy_app, ["evaluate", "runs/toy-hue/model.safetensors", "--data", str(prepared)])
    assert result.exit_code == 0, result.output
    assert Path("runs/toy-hue/eval-val.json").exists()

    assert find_model(Path("runs")) == Path("runs/toy-hue/model.safetensors")  # the only trained one
    Image.new("RGB", (40, 30), (90, 120, 60)).save("photo.png")
    result = runner.invoke(toy_app, ["predict", "photo.png"])
    assert result.exit_code == 0 and "runs/toy-hue/model.safetensors (toy trained on" in result.output, result.output
