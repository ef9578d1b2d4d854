"""`memjax reproduce --quick`: runs every default target end to end and writes every file
it promises, with a report whose table parses."""

import json

import pytest

from memjax import cli
from memjax.reproduce import report

EXPECTED_STEMS = ["thresholded_storage", "finite_data", "schemes_vs_dim_alpha2",
                  "schemes_vs_dim_alpha1.5", "schemes_vs_dim_alpha3", "overflow",
                  "memory_matrices"]
DATA_STEMS = ["thresholded_storage", "schemes_vs_dim_alpha2", "schemes_vs_dim_alpha1.5",
              "schemes_vs_dim_alpha3", "overflow"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    only = "thresholded-storage,schemes-vs-dim,overflow,memory-matrices"
    assert cli.main(["reproduce", "--quick", "--seeds", "4", "--only", only, "--out",
                     str(out), "--no-progress"]) == 0
    return out


def test_every_figure_and_data_file_is_written(quick_run):
    for stem in EXPECTED_STEMS:
        for suffix in (".png", ".pdf"):
            path = quick_run / f"{stem}{suffix}"
            assert path.exists() and path.stat().st_size > 5_000, path
    for stem in DATA_STEMS:
        for suffix in (".npz", ".json", ".csv"):
            assert (quick_run / f"{stem}{suffix}").exists()


def test_report_table_parses_and_names_every_claim(quick_run):
    text = (quick_run / "report.md").read_text()
    rows = report.parse_markdown_table(text)
    assert len(rows) >= 15
    assert {r["agrees"] for r in rows} <= {"yes", "NO", "n/a"}
    experiments = {r["experiment"].split(" (")[0] for r in rows}
    assert {"5.1 thresholded storage", "5.2 schemes vs d", "5.3 overflow",
            "5.4 memory matrices", "finite data", "population powers",
            "α dependence"} <= experiments
    slopes = [r for r in rows if r["predicted"].startswith("slope")]
    assert all("[" in r["measured"] and "∈" in r["range"] for r in slopes)
    claims = json.loads((quick_run / "claims.json").read_text())
    assert len(claims) == len(rows)
    html = (quick_run / "report.html").read_text()
    assert html.count("<img") == len(EXPECTED_STEMS) and "<table>" in html


def test_reruns_give_identical_numbers_whatever_else_runs(quick_run, tmp_path):
    assert cli.main(["reproduce", "--quick", "--seeds", "4", "--only", "overflow",
                     "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "overflow.csv").read_text() == (
        quick_run / "overflow.csv").read_text()
