"""The reproduction report: one row per claim, written as Markdown and HTML.

A reproduction target (see `memjax.reproduce`) returns `Claim`s: what the paper or the theory
predicts, what memjax measured (a slope with its confidence interval, or a value), over
which range, and whether the two agree. `write_report` turns them, with the figures the
targets saved, into `report.md` and a self-contained `report.html`. `new_figure`,
`save_figure` and `save_data` are how every target writes its files beside the report.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import json
import pathlib


@dataclasses.dataclass(frozen=True)
class Claim:
    """One row of the report."""

    experiment: str  # e.g. "5.1 thresholded storage"
    claim: str  # the statement checked, in words
    predicted: str  # e.g. "slope −1 (d^−(α−1))"
    measured: str  # e.g. "−0.98 [−1.03, −0.93]"
    fit_range: str = ""  # e.g. "d ∈ [50, 1000]"
    agrees: bool | None = None  # None: a qualitative observation, nothing to compare
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: "n/a"}[self.agrees]


def new_figure(ncols=1, width=4.6, height=3.5):
    """A styled figure of `ncols` panels side by side (off-screen); returns (fig, axes)."""
    from memjax.reproduce import style

    return style.figure(ncols, width=width, height=height)


def save_figure(fig, out_dir, stem) -> str:
    """Writes `stem`.png and `stem`.pdf in out_dir, closes the figure, returns the PNG name."""
    from memjax.reproduce import style

    return style.save(fig, out_dir, stem)


def save_data(result, out_dir, stem):
    """Writes a result as `stem`.npz (+ .json sidecar) and `stem`.csv in out_dir."""
    result.save(pathlib.Path(out_dir) / f"{stem}.npz")
    result.to_csv(pathlib.Path(out_dir) / f"{stem}.csv")


COLUMNS = ("experiment", "claim", "predicted", "measured", "fit_range", "verdict", "note")
HEADERS = ("experiment", "claim", "predicted", "measured", "range", "agrees", "note")


def markdown_table(claims) -> str:
    def cell(text):
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cell(getattr(c, k)) for k in COLUMNS) + " |" for c in claims]
    return "\n".join(lines)


def parse_markdown_table(text: str) -> list[dict]:
    """Reads back the first table of `report.md` (rows as dicts keyed by HEADERS)."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    header = [h.strip() for h in rows[0].strip("| ").split(" | ")]
    out = []
    for line in rows[1:]:
        cells = [c.strip().replace("\\|", "|") for c in line.strip()[2:-2].split(" | ")]
        out.append(dict(zip(header, cells)))
    return out


def write_report(out_dir, claims, figures, *, title="memjax reproduction", meta=None):
    """Writes report.md, report.html and claims.json into `out_dir`.

    Args:
      claims: `Claim`s in display order.
      figures: (caption, PNG path relative to out_dir) pairs.
      meta: extra facts for the header (run time, machine, versions, arguments).
    """
    out_dir = pathlib.Path(out_dir)
    meta = {"written": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), **(meta or {})}
    agree = sum(c.agrees is True for c in claims)
    checked = sum(c.agrees is not None for c in claims)
    summary = f"{agree} of {checked} checked claims agree with the prediction."
    md = [f"# {title}", "", summary, "", markdown_table(claims), "", "## Figures", ""]
    md += [f"![{caption}]({path})\n\n*{caption}*\n" for caption, path in figures]
    md += ["## Run", "", "```json", json.dumps(meta, indent=2), "```", ""]
    (out_dir / "report.md").write_text("\n".join(md))

    rows = "".join(
        "<tr class='{}'>".format({True: "ok", False: "bad", None: "na"}[c.agrees])
        + "".join(f"<td>{html.escape(str(getattr(c, k)))}</td>" for k in COLUMNS) + "</tr>"
        for c in claims)
    figs = "".join(f"<figure><img src='{html.escape(str(p))}'><figcaption>"
                   f"{html.escape(caption)}</figcaption></figure>" for caption, p in figures)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}
</title><style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse;font-size:14px}}td,th{{border:1px solid #ccc;padding:4px}}
tr.ok td:nth-child(6){{color:#080}}tr.bad td:nth-child(6){{color:#c00;font-weight:bold}}
figure{{display:inline-block;margin:1em;max-width:520px}}img{{max-width:100%}}</style>
</head><body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>
<table><tr>{''.join(f'<th>{h}</th>' for h in HEADERS)}</tr>{rows}</table>
<h2>Figures</h2>{figs}<h2>Run</h2><pre>{html.escape(json.dumps(meta, indent=2))}</pre>
</body></html>"""
    (out_dir / "report.html").write_text(page)
    (out_dir / "claims.json").write_text(
        json.dumps([dataclasses.asdict(c) for c in claims], indent=2) + "\n")
    return out_dir / "report.md"
