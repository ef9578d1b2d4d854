"""Notebooks (jupytext percent scripts) run top to bottom at smoke size and save figures.

They run here as plain scripts, in this process (compiled programs are shared with the
other tests), headless: each `show(name)` must write `<notebook>_<name>.png`. The docs
build (`mkdocs build --strict`) executes them again in a Jupyter kernel, with inline
figures.
"""

import pathlib
import re
import runpy

import matplotlib
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.py"))


def test_there_is_a_notebook_per_theme():
    names = {p.stem for p in NOTEBOOKS}
    assert {"capacity_scaling", "data_scaling", "overflow", "memory_pictures"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_saves_its_figures(path, monkeypatch, tmp_path):
    import jupytext

    notebook = jupytext.read(path)  # the file is a valid percent-format notebook
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 2
    assert "plt.show()" not in code, ("figures go through show(name) (plot.show_or_save), "
                                      "which saves them when headless")
    expected = set(re.findall(r'^\s*show\("(\w+)"\)', code, re.M))
    assert expected
    matplotlib.use("Agg")
    monkeypatch.setenv("MEMJAX_SMOKE", "1")
    monkeypatch.setenv("MEMJAX_FIGURES", str(tmp_path / "figures"))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(path), run_name="__main__")
    saved = {p.name: p.stat().st_size for p in (tmp_path / "figures").glob("*.png")}
    assert set(saved) == {f"{path.stem}_{name}.png" for name in expected}
    assert all(size > 10_000 for size in saved.values()), saved  # a drawn figure, not blank
