"""Notebooks (jupytext percent scripts) run top to bottom at smoke size."""

import pathlib
import runpy

import matplotlib
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.py"))


def test_there_is_a_notebook_per_theme():
    names = {p.stem for p in NOTEBOOKS}
    assert {"capacity_scaling", "data_scaling", "overflow", "memory_pictures"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_every_cell(path, monkeypatch, tmp_path):
    import jupytext
    notebook = jupytext.read(path)  # the file is a valid percent-format notebook
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 2
    matplotlib.use("Agg")
    monkeypatch.setenv("MEMJAX_SMOKE", "1")
    monkeypatch.chdir(tmp_path)
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: plt.close("all"))
    runpy.run_path(str(path), run_name="__main__")
