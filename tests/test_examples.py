"""The example notebooks run top to bottom (on the tiny set), so they cannot rot."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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
    from nogancolor.classify import train_classifier
    from nogancolor.nogan import train_nogan
    from nogancolor.training import train_dcgan, train_unet

    small = dict(bs=8, base=8, progress=False)
    train_unet(prepared, tmp_path / "unet", epochs=1, **small)
    train_dcgan(prepared, tmp_path / "dcgan", epochs=1, **small)
    train_classifier(prepared, tmp_path / "clf", epochs=1, **small)
    train_nogan(prepared, tmp_path / "nogan", gen_epochs=1, gan_epochs=0.5, val_every=2, critic_nf=8,
                classifier=tmp_path / "clf" / "model.safetensors", log=lambda m: None, **small)
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
