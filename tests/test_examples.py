"""The example notebooks run top to bottom (on the tiny set), so they cannot rot."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # minutes of training or whole scripts: outside the quick subset

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("name", ["train_unet.ipynb", "nogan_stages.ipynb"])
def test_notebook_runs(name, prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel is a second process beside pytest
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_DATA", str(prepared))
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_N_TRAIN", "32")
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_BS", "8")
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_BASE", "8")
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_EPOCHS", "1")
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # show_batch, the lr_find plot, show_results


def test_comparison_notebook_loads_three_models(prepared, tmp_path, monkeypatch):
    from nogancolor.methods import train
    from nogancolor.methods.classifier import ClassifierConfig
    from nogancolor.methods.dcgan import DCGANConfig
    from nogancolor.methods.nogan import (
        CriticStageConfig,
        GeneratorStageConfig,
        JointStageConfig,
        NoGANConfig,
        train_nogan,
    )
    from nogancolor.methods.unet import UNetConfig

    small = dict(data=str(prepared), bs=8, base=8)
    train(UNetConfig(epochs=1, **small), tmp_path / "unet", progress=False)
    train(DCGANConfig(epochs=1, **small), tmp_path / "dcgan", progress=False)
    train(ClassifierConfig(epochs=1, **small), tmp_path / "clf", progress=False)
    train_nogan(NoGANConfig(classifier=str(tmp_path / "clf" / "model.safetensors"), generator=GeneratorStageConfig(epochs=1),
                            critic=CriticStageConfig(nf=8), gan=JointStageConfig(epochs=0.5, val_every=2), **small),
                tmp_path / "nogan", progress=False, log=lambda m: None)
    models = ",".join(f"{m}={tmp_path / m / 'model.safetensors'}" for m in ("unet", "dcgan", "nogan"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_DATA", str(prepared))
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_MODELS", models)
    monkeypatch.setenv("NOGANCOLOR_EXAMPLE_CLASSIFIER", str(tmp_path / "clf" / "model.safetensors"))
    nb = nbformat.read(EXAMPLES / "compare_models.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    table = outputs[-1]["data"]["text/plain"]
    assert all(name in table for name in ("U-Net", "DCGAN", "NoGAN")) and "frechet_classifier_distance" in table


def test_the_readme_example_draws_the_real_photo_and_render_size_figures(tmp_path):
    import runpy

    from PIL import Image

    example = runpy.run_path(str(EXAMPLES / "readme_example.py"))
    example["main"](out=tmp_path)
    photos, sizes = Image.open(tmp_path / "real-photos.jpg"), Image.open(tmp_path / "render-size.jpg")
    rows = len(example["PHOTOS"])
    assert photos.height == sizes.height == 24 + example["HEIGHT"] * rows
    # render-size.jpg: one column per render size and the original (each at least as wide as tall), real-photos.jpg three
    assert sizes.width > (len(example["RENDER_SIZES"]) + 1) * example["HEIGHT"] > photos.width


def test_the_readme_example_puts_candidate_models_side_by_side(tmp_path):
    import runpy

    from PIL import Image

    example = runpy.run_path(str(EXAMPLES / "readme_example.py"))
    example["compare"](["bundled@32", "bundled@64"], tmp_path / "look.jpg")
    look = Image.open(tmp_path / "look.jpg")
    # a row per photo (the night rocket added), columns: gray, the two renders, the original
    assert look.height == 24 + example["HEIGHT"] * (len(example["PHOTOS"]) + 1)
    assert look.width >= 4 * example["HEIGHT"]
    small, large = (look.crop((x, 24, x + 200, 24 + example["HEIGHT"])) for x in (460, 910))
    assert small.tobytes() != large.tobytes()
