"""The reproduction report and its run loop, on fake targets (no simulation): a partial
run leaves a valid report, a rerun reuses what is on disk and recomputes what changed,
claims.json keeps numbers as numbers, report.html is self-contained."""

from __future__ import annotations

import dataclasses
import json
import re

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

import memjax.reproduce as reproduce  # noqa: E402
from memjax.reproduce import cli, report  # noqa: E402
from memjax.reproduce.claims import Check  # noqa: E402
from memjax.reproduce.report import Claim, new_figure, save_figure  # noqa: E402

CALLS = []


def _rows():
    slope = Check("fake", "error vs d", "slope", -0.49, "agrees", ci_low=-0.52,
                  ci_high=-0.47, reference=-0.5, reference_kind="predictor", exponent=-0.45,
                  fit_range={"variable": "d", "low": 10, "high": 100, "points": 5},
                  tolerance=0.01, converges=True, explanation="reference inside")
    level = Check("fake", "error level", "level", 0.03, "agrees", reference=0.0,
                  reference_kind="predictor", tolerance=0.05)
    return [slope, level, Claim("fake", "a < b", "a < b", "1 vs 2", agrees=True)]


def _fake(name):
    def target(out_dir, *, key, quick, seeds, progress):
        del key, quick, progress
        CALLS.append(name)
        if name == "boom":
            raise KeyboardInterrupt  # an interrupted run
        fig, axes = new_figure(1)
        axes[0].plot([1, 2], [1, seeds or 3])
        png = save_figure(fig, out_dir, f"fig_{name}")
        return _rows(), [(f"caption {name}", png)]
    return target


def _with_conventions(out_dir, *, key, quick, seeds, progress, conventions):
    CALLS.append(("conventions", conventions))
    return [], []


@dataclasses.dataclass(frozen=True)
class FakeTarget(reproduce.Target):
    def load(self):
        return _with_conventions if self.function == "conv" else _fake(self.function)


@pytest.fixture
def fakes(monkeypatch):
    CALLS.clear()
    table = {n: FakeTarget("fake", n, f"description of {n}", "new" if n == "b" else "§5.1",
                           seconds=10.0, quick_seconds=1.0, trials=(100, 10))
             for n in ("a", "b", "boom", "conv")}
    monkeypatch.setattr(reproduce, "TARGETS", table)
    return table


def test_an_interrupted_run_leaves_a_valid_partial_report(fakes, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        cli.run(tmp_path, ["a", "boom", "b"], progress=False)
    text = (tmp_path / "report.md").read_text()
    assert "ran 1 of 3" in text and "partial" in text and "Not run yet" in text
    summary = report.parse_markdown_tables(text)[0]
    assert [r["target"] for r in summary] == ["[a](#a)", "[boom](#boom)", "[b](#b)"]
    assert summary[0]["verdicts"] == "3 agrees, 1 converge"
    assert summary[1]["verdicts"] == "running"
    saved = json.loads((tmp_path / "claims.json").read_text())
    assert saved["complete"] is False and {c["target"] for c in saved["claims"]} == {"a"}


def test_a_rerun_reuses_targets_on_disk_and_recomputes_what_changed(fakes, tmp_path):
    cli.run(tmp_path, ["a", "b"], progress=False)
    assert CALLS == ["a", "b"]
    cli.run(tmp_path, ["a", "b"], progress=False)
    assert CALLS == ["a", "b"]  # both reused
    (tmp_path / "fig_a.png").write_bytes(b"not the figure")  # altered on disk
    cli.run(tmp_path, ["a", "b"], progress=False)
    assert CALLS == ["a", "b", "a"]
    (tmp_path / "targets" / "b.json").write_text("{ truncated")  # damaged manifest
    cli.run(tmp_path, ["a", "b"], progress=False)
    assert CALLS == ["a", "b", "a", "b"]
    cli.run(tmp_path, ["a", "b"], seeds=5, progress=False)  # another configuration
    cli.run(tmp_path, ["a"], seeds=5, progress=False, overwrite=True)
    assert CALLS == ["a", "b", "a", "b", "a", "b", "a"]
    assert "(reused)" not in (tmp_path / "report.md").read_text()


def test_claims_json_keeps_numbers_and_the_report_shows_them(fakes, tmp_path):
    cli.run(tmp_path, ["a"], key=3, progress=False)
    saved = json.loads((tmp_path / "claims.json").read_text())
    slope, level, statement = saved["claims"]
    assert slope["measured"] == -0.49 and slope["ci_low"] == -0.52
    assert slope["offset"] == pytest.approx(-0.05) and slope["converges"] is True
    assert slope["fit_range"] == {"variable": "d", "low": 10, "high": 100, "points": 5}
    assert level["tolerance"] == 0.05 and statement["verdict"] == "agrees"
    assert statement["kind"] == "statement"
    assert saved["meta"]["key"] == 3 and saved["meta"]["dtype"] in ("float32", "float64")
    rows = report.parse_markdown_tables((tmp_path / "report.md").read_text())[1]
    assert rows[0]["measured [95% CI]"] == "−0.490 [−0.520, −0.470]"
    assert rows[0]["reference"] == "−0.500 ± 0.01 (predictor)"
    assert rows[0]["exponent"] == "−0.450 (offset −0.050)"
    assert rows[0]["range"] == "d ∈ [10, 100] (5 pts)"
    assert rows[0]["verdict"] == "agrees; converges"
    assert rows[1]["measured [95% CI]"] == "max |log ratio| 0.03"
    assert rows[1]["reference"] == "≤ 0.05 (predictor)"


def test_report_html_is_self_contained_with_each_figure_beside_its_rows(fakes, tmp_path):
    cli.run(tmp_path, ["a", "b"], progress=False)
    page = (tmp_path / "report.html").read_text()
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    section = page[page.index("<h2 id='b'>"):page.index("<h2>Provenance")]
    assert "caption b" in section and "<b>new</b>" in section and section.count("<img") == 1
    assert "<p class='rule'>" in page and "git_commit" in page


def test_the_estimate_scales_with_seeds_and_lists_show_whole_descriptions(fakes):
    full, _ = cli.estimate(fakes, ["a", "b"], quick=False, seeds=None)
    assert full == 20.0
    half, _ = cli.estimate(fakes, ["a"], quick=False, seeds=50)
    assert half == pytest.approx(10.0 * (0.3 + 0.7 * 0.5))
    assert cli.estimate(fakes, ["a"], quick=True, seeds=None)[0] == 1.0
    # Two processes share the cores: the measured speed-up 1 + EXTRA_JOB_SPEEDUP, never
    # below the longest target.
    two, mib = cli.estimate(fakes, ["a", "b"], quick=False, seeds=None, jobs=2)
    one_mib = cli.estimate(fakes, ["a", "b"], quick=False, seeds=None)[1]
    assert two == pytest.approx(max(10.0, full / (1 + cli.EXTRA_JOB_SPEEDUP)))
    assert two < full and mib == 2 * one_mib
    listed = cli.list_targets(reproduce.TARGETS)
    assert "description of boom" in listed and "§5.1" in listed and "new" in listed


def test_conventions_reach_the_targets_that_take_them_and_the_report_says_so(fakes,
                                                                             tmp_path):
    cli.run(tmp_path, ["conv", "a"], conventions="authors", progress=False)
    assert CALLS == [("conventions", "authors"), "a"]
    text = (tmp_path / "report.md").read_text()
    assert "under the authors conventions" in text and "normalised at d_max" in text
    assert "conventions: authors does not apply" in text  # target a takes none
    with pytest.raises(ValueError, match="conventions must be one of"):
        cli.run(tmp_path, ["a"], conventions="paper", progress=False)


def test_a_quick_report_says_its_verdicts_are_smoke_test_grade(fakes, tmp_path):
    cli.run(tmp_path / "quick", ["a"], quick=True, progress=False)
    cli.run(tmp_path / "full", ["a"], progress=False)
    assert "smoke-test size" in (tmp_path / "quick" / "report.md").read_text()
    assert "smoke-test size" not in (tmp_path / "full" / "report.md").read_text()


def test_saved_figures_label_log_ticks_in_plain_text_with_the_same_ticks(tmp_path):
    # style.save swaps mathtext log labels for plain text ('10⁻³', '2×10⁻¹'): the same
    # tick positions and the same numbers, without mathtext parsing.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import ticker

    from memjax.reproduce import style

    assert style._plain("$\\mathdefault{10^{-3}}$") == "10⁻³"
    assert style._plain("$\\mathdefault{2\\times10^{-1}}$") == "2×10⁻¹"
    assert style._plain("$\\mathdefault{10^{12}}$") == "10¹²"
    assert style._plain("") == "" and style._plain("0.5") == "0.5"
    fig, axes = style.figure(1)
    ax = axes[0]
    ax.plot([10, 1000], [0.3, 0.002])
    ax.set_xscale("log")
    ax.set_yscale("log")
    fig.canvas.draw()
    before = [t.get_text() for t in ax.yaxis.get_majorticklabels()]
    assert any("mathdefault" in t for t in before)
    style._plain_log_labels(fig)
    assert type(ax.yaxis.get_major_formatter()) is not ticker.LogFormatterSciNotation
    fig.canvas.draw()
    after = [t.get_text() for t in ax.yaxis.get_majorticklabels()]
    assert after == [style._plain(t) for t in before] and not any("$" in t for t in after)
    assert style.save(fig, tmp_path, "ticks") == "ticks.png"
    assert (tmp_path / "ticks.png").stat().st_size > 5_000 and (tmp_path / "ticks.pdf").exists()


def test_panel_letters_of_the_2d_embedding_figure_do_not_overlap_the_titles():
    # The circle panels' boxes are squares narrower than their cells: a title line wider
    # than the box ran under the letter "(b)". Their titles now wrap to fit the box.
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from memjax.reproduce import mechanisms, style

    rng = np.random.default_rng(0)
    params = {"U": rng.normal(size=(5, 2)), "E": rng.normal(size=(100, 2)),
              "W": rng.normal(size=(2, 2))}
    fig, axes = new_figure(3, width=4.0)
    axes[0].set_title("error vs $M$, population loss\nN = 100")
    mechanisms._draw_directions(params, axes[1], axes[2])
    style.panel_letters(axes)
    fig.canvas.draw()
    assert style.letters_over_titles(fig) == []
    renderer = fig.canvas.get_renderer()
    for ax in axes[1:]:  # the circles stay round: equal data scale in x and y
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        pos = ax.get_window_extent(renderer)
        assert (x1 - x0) / pos.width == pytest.approx((y1 - y0) / pos.height, rel=1e-3)
    matplotlib.pyplot.close(fig)


def test_saving_a_figure_with_a_letter_over_its_title_warns(tmp_path):
    # The check behind the suite-wide error (pyproject.toml filterwarnings): a title line
    # wider than its square box runs under the letter, and `save` says which.
    import matplotlib

    matplotlib.use("Agg")
    from memjax.reproduce import style

    fig, axes = style.figure(2, width=4.0)
    for ax in axes:
        ax.set_aspect("equal")
        ax.set_title("a title line much wider than this square box, running left")
    style.panel_letters(axes)
    with pytest.warns(style.FigureLayoutWarning, match=r"wide\.png: panel letters \['\(a\)'"):
        style.save(fig, tmp_path, "wide")
    assert (tmp_path / "wide.png").exists() and (tmp_path / "wide.pdf").exists()


def test_the_pdf_keeps_the_png_layout_and_is_drawn_once(tmp_path, monkeypatch):
    # `save` solves the constrained layout at the PNG's draw and writes the PDF with no
    # layout engine left, so matplotlib skips the PDF's layout pre-draw (3 draws in all,
    # not 4) and the PDF has the PNG's panel positions, even where the user's rc asks
    # for a layout of its own (figure.autolayout: a tight layout would move them).
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import figure as mfigure

    from memjax.reproduce import style

    def make():
        fig, axes = style.figure(2)
        for ax in axes:
            ax.plot([10, 1000], [0.3, 0.002], label="a curve")
            style.title(ax, "error vs T", style.setting(N=100, M=5, alpha=2))
            style.finish(ax, "$T$")
        return fig

    reference = make()
    style.save(reference, tmp_path, "reference")  # the rc as memjax sets it
    expected = [b for ax in reference.axes for b in ax.get_position().bounds]
    draws = []
    real_draw = mfigure.Figure.draw
    monkeypatch.setattr(mfigure.Figure, "draw",
                        lambda self, renderer: draws.append(1) or real_draw(self, renderer))
    fig = make()
    with matplotlib.rc_context({"figure.autolayout": True}):
        style.save(fig, tmp_path, "layout")
    assert len(draws) == 3  # PNG: layout pre-draw and render; PDF: render only
    assert fig.get_layout_engine() is None
    assert [b for ax in fig.axes for b in ax.get_position().bounds] == pytest.approx(expected)
    assert (tmp_path / "layout.pdf").stat().st_size > 5_000
