"""The Colab notebook executes top to bottom (on CPU, with tiny parameters), so it never
silently breaks."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "mlsh_colab.ipynb"
TINY_PARAMETERS = """REPO_URL = ""
WORKDIR = "runs/notebook_test"
TOTAL_UPDATES = 4
NUM_SLOTS = 4
ENVS_PER_SLOT = 4
LOG_EVERY = 2
META_TEST_TASKS = 8"""


def outputs_of(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []))


@pytest.mark.slow  # ~1-2 min; the CLI's end-to-end test covers the same run by default
def test_notebook_runs_end_to_end_and_shows_curves_and_the_picture(tmp_path, monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the kernel inherits it, on any dev machine
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = TINY_PARAMETERS
    # Run from the repository root's packages but write the run into a temporary directory.
    notebook.cells.insert(0, nbformat.v4.new_code_cell(
        f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\nos.chdir({str(tmp_path)!r})"))
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()

    text = "\n".join(outputs_of(c) for c in notebook.cells)
    assert "backend cpu" in text
    assert "[4/4]" in text  # the last progress line of training
    assert "return after 9 master updates" in text
    images = [out for c in notebook.cells for out in c.get("outputs", [])
              if "image/png" in out.get("data", {})]
    assert len(images) == 3  # learning curve, meta-test curve, sub-policy picture
    assert (tmp_path / "runs" / "notebook_test" / "subpolicies.png").stat().st_size > 1000
