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
