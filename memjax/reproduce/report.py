"""The reproduction report: report.md, a self-contained report.html and claims.json.

A target (see `memjax.reproduce`) returns rows (the claim rule's checks, or `Claim`s for
qualitative statements) and (caption, PNG) figures. `write_report` lays them out as a
paper appendix: an introduction (what ran, the agreement rule, how to read a row), a
summary table of verdicts per experiment, then one section per experiment with the paper
experiment it reproduces, its settings, its figures at full width and its rows below
them, and the provenance of the run. It is rewritten after every finished target, so a
partial run leaves a valid partial report. Rows are rendered from their `to_dict()`
(numbers stay numbers in claims.json). `new_figure`, `save_figure` and `save_data` are how
targets write their files beside the report.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import pathlib

from memjax import _atomic

VERDICTS = ("agrees", "disagrees", "observation")


@dataclasses.dataclass(frozen=True)
class Claim:
    """A row that is not a fitted slope: a comparison stated in words, with its rule.

    `agrees` None marks an observation (nothing to compare against).
    """

    experiment: str  # e.g. "5.4 memory matrices"
    claim: str  # the statement checked, in words
    predicted: str  # what the paper or the theory says, e.g. "threshold < population"
    measured: str  # what memjax measured, e.g. "0.0123 vs 0.0456"
    fit_range: str = ""  # e.g. "d ∈ [50, 1000]"
    agrees: bool | None = None
    note: str = ""  # the rule applied and anything a reader needs to judge the row

    @property
    def verdict(self) -> str:
        return {True: "agrees", False: "disagrees", None: "observation"}[self.agrees]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "kind": "statement", "verdict": self.verdict,
                "explanation": self.note}


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
    result.save(pathlib.Path(out_dir) / f"{stem}.npz", overwrite=True)  # the target reruns
    result.to_csv(pathlib.Path(out_dir) / f"{stem}.csv")


def row_dict(row) -> dict:
    """A row (a claim-rule check or a `Claim`) as a JSON-ready dict with a 'verdict'."""
    data = row.to_dict() if hasattr(row, "to_dict") else dict(row)
    if "verdict" not in data and hasattr(row, "verdict"):
        data["verdict"] = row.verdict
    return data


# --- Cells --------------------------------------------------------------------------------

def _num(value, signed=False) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if math.isnan(value):
        return "—"
    if signed:
        text = f"{value:+.3f}"
    elif value.is_integer() and abs(value) < 1e7:  # grid values: 1,000 not 1e+03
        text = f"{value:,.0f}"
    else:
        text = f"{value:.3g}"
    return text.replace("-", "−")


def _range(value) -> str:
    if isinstance(value, dict):  # the claim rule's {"variable", "low", "high", "points"}
        text = f"{value.get('variable', 'x')} ∈ [{_num(value.get('low'))}, " \
               f"{_num(value.get('high'))}]"
        return text + (f" ({value['points']} pts)" if value.get("points") else "")
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) for v in value):
        return f"[{_num(value[0])}, {_num(value[1])}]"
    return "" if value is None else str(value)


def verdict_text(row: dict) -> str:
    """The verdict, with 'converges' when the references approach the exponent."""
    verdict = str(row.get("verdict", ""))
    if row.get("converges") is True and row.get("kind") != "convergence":
        verdict += "; converges"
    return verdict


def cells(row: dict) -> dict:
    """The display cells of a row dict: claim, measured, reference, exponent, range,
    verdict, explanation (strings)."""
    kind = row.get("kind")
    signed = kind in ("slope", "convergence")
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    measured = _num(row.get("measured"), signed)
    if number(row.get("ci_low")) and number(row.get("ci_high")):
        measured += f" [{_num(row['ci_low'], signed)}, {_num(row['ci_high'], signed)}]"
    source = row.get("reference_kind", "")
    tolerance = row.get("tolerance")
    if kind == "level":  # measured is max |log(measured/reference)|, to stay ≤ tolerance
        measured = f"max |log ratio| {measured}"
        reference = f"≤ {_num(tolerance)}" + (f" ({source})" if source else "")
    else:
        reference = _num(row.get("reference", row.get("predicted")), signed)
        if number(tolerance) and tolerance and kind != "convergence":
            reference += f" ± {_num(tolerance)}"
        if source:
            reference += f" ({source})"
    exponent = _num(row.get("exponent"), True)
    if number(row.get("offset")):
        exponent += f" (offset {_num(row['offset'], True)})"
    return {"claim": str(row.get("claim", "")), "measured": measured,
            "reference": reference, "exponent": exponent,
            "range": _range(row.get("fit_range")), "verdict": verdict_text(row),
            "explanation": str(row.get("explanation") or row.get("note") or "")}


COLUMNS = ("claim", "measured", "reference", "exponent", "range", "verdict", "explanation")
HEADERS = ("claim", "measured [95% CI]", "reference", "exponent", "range", "verdict",
           "explanation")


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def parse_markdown_tables(text: str) -> list[list[dict]]:
    """Reads back every table of a report.md (rows as dicts keyed by the header)."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("|-") and current is not None:  # the header's rule
            continue
        if not line.startswith("| "):
            current = None
            continue
        cells_ = [c.strip().replace("\\|", "|") for c in line.strip()[2:-2].split(" | ")]
        if current is None:
            current = {"header": cells_, "rows": []}
            tables.append(current)
        else:
            current["rows"].append(dict(zip(current["header"], cells_)))
    return [t["rows"] for t in tables]


# --- The document ------------------------------------------------------------------------

def counts(rows) -> dict:
    """Verdict -> number of rows, in VERDICTS order (others after)."""
    out = {}
    for row in rows:
        out[row.get("verdict", "")] = out.get(row.get("verdict", ""), 0) + 1
    order = [v for v in VERDICTS if v in out] + [v for v in out if v not in VERDICTS]
    out = {v: out[v] for v in order}
    converging = sum(row.get("converges") is True for row in rows)
    if converging:
        out["converge"] = converging
    return out


def _counts_text(rows) -> str:
    return ", ".join(f"{n} {v}" for v, n in counts(rows).items()) or "no rows"


def rule_text() -> str:
    """The agreement rule (`memjax.reproduce.claims.rule_text`)."""
    from memjax.reproduce import claims

    return claims.rule_text()


READING = (
    "Each row states one claim of the paper or of the theory. *measured* is memjax's "
    "number (for a slope: the fitted log-log slope of the seed-mean error with its "
    "bootstrap 95% interval over seeds; for a level: the largest |log(measured / "
    "reference)| over the range; for a comparison: the number compared); *reference* is "
    "what it is compared with at the same N, M and range (for a slope: the finite-size "
    "reference slope ± the tolerance that widens the interval, and which reference it "
    "is); *exponent* is the asymptotic (N = ∞, d → ∞) exponent and *offset* the "
    "pre-asymptotic gap reference − exponent; *range* is the fitting window. Verdicts: "
    "**agrees**; **disagrees** (a real gap, explained in its row); **observation** "
    "(nothing to compare). A verdict ending in “; converges” means the references at "
    "larger N and d approach the exponent. The *reproduces* column names the paper's "
    "experiment (numbered as in SPEC §5) or says **new** (beyond the paper).")


def summary_rows(sections) -> list[tuple]:
    return [(f"[{s['name']}](#{s['name']})", s["figure"], _counts_text(s["rows"])
             if s["status"] == "done" else s["status"],
             f"{s['seconds']:.0f} s" + (" (reused)" if s.get("reused") else "")
             if s["status"] == "done" else "") for s in sections]


def _provenance(meta) -> list[str]:
    keys = ("memjax", "git_commit", "jax", "jaxlib", "backend", "device", "dtype", "key",
            "seeds", "quick", "conventions", "command", "started", "written", "seconds")
    return [f"{k}: {meta[k]}" for k in keys if k in meta and meta[k] not in (None, "")]


def write_report(out_dir, sections, meta, *, title="memjax reproduction") -> pathlib.Path:
    """Writes report.md, report.html and claims.json into `out_dir` (each atomically).

    Args:
      sections: one dict per target in run order: name, description, figure (paper
        experiment or "new"), status ("done" | "pending" | "running"), rows (row dicts),
        figures ((caption, PNG name) pairs), settings (lines), seconds, reused.
      meta: provenance (memjax, git_commit, jax, device, dtype, key, seeds, conventions,
        conventions_text, command, ...).
    """
    out_dir = pathlib.Path(out_dir)
    done = [s for s in sections if s["status"] == "done"]
    rows = [r for s in done for r in s["rows"]]
    partial = len(done) < len(sections)
    intro = (f"memjax ran {len(done)} of {len(sections)} reproduction targets"
             + (" (partial: the run is unfinished or was interrupted)" if partial else "")
             + f" with key {meta.get('key')}, "
             + (f"{meta['seeds']} seeds per grid" if meta.get("seeds") else
                "each target's default seeds") + (", reduced sizes (--quick)" if meta.get(
                    "quick") else "") + f", under the {meta.get('conventions', 'memjax')} "
             f"conventions. Verdicts: {_counts_text(rows)}."
             + (" This is the smoke-test size: grids, ranges and seed counts are cut "
                "(3–12 seeds), so a row can disagree for that reason alone; the verdicts "
                "that count are those of a run without --quick." if meta.get("quick")
                else ""))
    rule = rule_text()
    conventions = meta.get("conventions_text", "")
    _atomic.write_text(out_dir / "report.md", _markdown(title, intro, rule, conventions,
                                                        sections, meta))
    _atomic.write_text(out_dir / "report.html", _html(title, intro, rule, conventions,
                                                      sections, meta, out_dir))
    flat = [{"target": s["name"], "paper": s["figure"], **r} for s in done for r in s["rows"]]
    _atomic.write_text(out_dir / "claims.json", json.dumps(
        {"meta": meta, "rule": rule, "complete": not partial, "claims": flat}, indent=2,
        default=_json_default) + "\n")
    return out_dir / "report.md"


def _json_default(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _markdown(title, intro, rule, conventions, sections, meta) -> str:
    md = [f"# {title}", "", intro, "", rule, "",
          f"**How to read a row.** {READING}", ""]
    if conventions:
        md += [f"**Conventions.** {conventions}", ""]
    md += ["## Summary", "", markdown_table(("target", "reproduces", "verdicts", "time"),
                                            summary_rows(sections)), ""]
    for s in sections:
        md += [f"## {s['name']}", "", f"*{s['description']}* — reproduces: "
               f"**{s['figure']}**.", ""]
        if s["status"] != "done":
            md += [f"Not run yet ({s['status']}).", ""]
            continue
        if s.get("settings"):
            md += ["Settings:", ""] + [f"- {line}" for line in s["settings"]] + [""]
        for caption, png in s["figures"]:
            md += [f"![{caption}]({png})", "", f"*{caption}*", ""]
        if s["rows"]:
            table = [[cells(r)[k] for k in COLUMNS] for r in s["rows"]]
            md += [markdown_table(HEADERS, table), ""]
    md += ["## Provenance", ""] + [f"- {line}" for line in _provenance(meta)] + [""]
    md += ["```json", json.dumps(meta, indent=2, default=_json_default), "```", ""]
    return "\n".join(md)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;line-height:1.45;color:#222}
h1{font-size:1.7em}h2{margin-top:2.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:13px;margin:1em 0;width:100%}
td,th{border:1px solid #d0d0d0;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
.v{font-weight:600;white-space:nowrap}.v-agrees{color:#087a2a}.v-converge{color:#0b6e99}
.v-disagrees{color:#b00020}.v-observation{color:#666}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:#444;margin-top:.3em}
.settings{font-size:13px;color:#333;background:#fafafa;border-left:3px solid #ccc;
padding:.4em .8em}.pending{color:#888;font-style:italic}pre{font-size:12px;
background:#f7f7f7;padding:.8em;overflow-x:auto}.rule{background:#f4f8fb;
border-left:3px solid #0b6e99;padding:.5em .9em}
"""


def _img(out_dir, png) -> str:
    path = out_dir / png
    if not path.exists():
        return f"<p class='pending'>(missing figure {html.escape(png)})</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img src='data:image/png;base64,{data}' alt='{html.escape(png)}'>"


def _html(title, intro, rule, conventions, sections, meta, out_dir) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{e(title)}</h1><p>{e(intro)}</p>",
             f"<p class='rule'>{_inline_md(rule)}</p>",
             f"<p><b>How to read a row.</b> {_inline_md(READING)}</p>"]
    if conventions:
        parts.append(f"<p><b>Conventions.</b> {e(conventions)}</p>")
    parts.append("<h2>Summary</h2><table><tr><th>target</th><th>reproduces</th>"
                 "<th>verdicts</th><th>time</th></tr>")
    for s in sections:
        verdicts = (", ".join(f"<span class='v v-{e(v)}'>{n} {e(v)}</span>"
                              for v, n in counts(s["rows"]).items())
                    if s["status"] == "done" else f"<span class='pending'>{e(s['status'])}"
                    "</span>")
        time_ = (f"{s['seconds']:.0f} s" + (" (reused)" if s.get("reused") else "")
                 if s["status"] == "done" else "")
        parts.append(f"<tr><td><a href='#{e(s['name'])}'>{e(s['name'])}</a></td>"
                     f"<td>{e(s['figure'])}</td><td>{verdicts or 'no rows'}</td>"
                     f"<td class='num'>{e(time_)}</td></tr>")
    parts.append("</table>")
    for s in sections:
        parts.append(f"<h2 id='{e(s['name'])}'>{e(s['name'])}</h2><p><i>"
                     f"{e(s['description'])}</i> — reproduces: <b>{e(s['figure'])}</b>.</p>")
        if s["status"] != "done":
            parts.append(f"<p class='pending'>Not run yet ({e(s['status'])}).</p>")
            continue
        if s.get("settings"):
            parts.append("<div class='settings'>" + "<br>".join(
                e(line) for line in s["settings"]) + "</div>")
        for caption, png in s["figures"]:
            parts.append(f"<figure>{_img(out_dir, png)}<figcaption>{e(caption)}"
                         "</figcaption></figure>")
        if s["rows"]:
            parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADERS)
                         + "</tr>")
            for row in s["rows"]:
                c = cells(row)
                parts.append("<tr>" + "".join(
                    f"<td class='v v-{e(row.get('verdict', ''))}'>{e(c[k])}</td>"
                    if k == "verdict" else
                    f"<td class='num'>{e(c[k])}</td>" if k in ("measured", "reference",
                                                               "exponent") else
                    f"<td>{e(c[k])}</td>" for k in COLUMNS) + "</tr>")
            parts.append("</table>")
    parts.append("<h2>Provenance</h2><ul>" + "".join(
        f"<li>{e(line)}</li>" for line in _provenance(meta)) + "</ul>")
    parts.append(f"<pre>{e(json.dumps(meta, indent=2, default=_json_default))}</pre>"
                 "</body></html>")
    return "\n".join(parts)


def _inline_md(text) -> str:
    """*x* and **x** to <i>/<b> (the only markup READING uses)."""
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
