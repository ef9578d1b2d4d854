"""`memjax reproduce --quick` on the explicit-scheme targets: every file it promises, a
report whose tables parse with a verdict on every row, claims.json with numbers, and the
same numbers whatever else runs."""

import json

import pytest

from memjax import cli
from memjax.reproduce import report

EXPECTED_STEMS = ["thresholded_storage", "finite_data", "schemes_vs_dim_alpha2",
                  "schemes_vs_dim_alpha1.5", "schemes_vs_dim_alpha3", "overflow",
                  "memory_matrices"]
DATA_STEMS = ["thresholded_storage", "schemes_vs_dim_alpha2", "schemes_vs_dim_alpha1.5",
              "schemes_vs_dim_alpha3", "overflow"]
ONLY = "thresholded-storage,schemes-vs-dim,overflow,memory-matrices"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    # In this process (--jobs 1): the suite's other worker has the second core, and the
    # worker-process route has its own test (test_reproduce_new).
    assert cli.main(["reproduce", "--quick", "--seeds", "4", "--only", ONLY, "--out",
                     str(out), "--no-progress", "--jobs", "1"]) == 0
    return out


def test_every_figure_and_data_file_is_written(quick_run):
    for stem in EXPECTED_STEMS:
        for suffix in (".png", ".pdf"):
            path = quick_run / f"{stem}{suffix}"
            assert path.exists() and path.stat().st_size > 5_000, path
    for stem in DATA_STEMS:
        for suffix in (".npz", ".json", ".csv"):
            assert (quick_run / f"{stem}{suffix}").exists()


def test_report_sections_parse_with_a_verdict_on_every_row(quick_run):
    tables = report.parse_markdown_tables((quick_run / "report.md").read_text())
    summary, sections = tables[0], tables[1:]
    assert [r["target"].split("]")[0][1:] for r in summary] == ONLY.split(",")
    rows = [r for table in sections for r in table]
    assert len(rows) >= 15
    assert {r["verdict"].split(";")[0] for r in rows} <= set(report.VERDICTS)
    saved = json.loads((quick_run / "claims.json").read_text())
    assert saved["complete"] and len(saved["claims"]) == len(rows)
    for row in saved["claims"]:
        if row.get("kind") == "slope":  # numbers, not strings
            assert row["ci_low"] <= row["measured"] <= row["ci_high"], row
    page = (quick_run / "report.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == len(EXPECTED_STEMS)


def test_reruns_give_identical_numbers_whatever_else_runs(quick_run, tmp_path):
    assert cli.main(["reproduce", "--quick", "--seeds", "4", "--only", "overflow",
                     "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "overflow.csv").read_text() == (
        quick_run / "overflow.csv").read_text()
