"""Every example in the README and the docs runs as written, in one process.

Each page's ```python blocks run in order in one namespace (a page reads as one session),
in a temporary working directory. Markers (HTML comments, invisible on the site) just
above a block change how it runs:

* `<!-- smoke: name=value; name2=value2 -->` sets every keyword argument `name=...` of
  that block to `value` (a smoke size; the page shows what a user runs);
* `<!-- no-run: reason -->` skips it (it is still compiled); the reason is required, and
  such blocks stay few (several processes, gigabytes, or files written by minutes of work).

Shell blocks (```bash) are not run, but every `memjax ...` command in them must parse
with the CLI's own argument parser. Docstring examples (`>>>`) of the memjax modules run
through doctest.
"""

from __future__ import annotations

import doctest
import importlib
import pathlib
import pkgutil
import re
import shlex
from typing import NamedTuple

import matplotlib
import pytest

import memjax

ROOT = pathlib.Path(__file__).parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
MAX_NO_RUN = 4
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARKERS = re.compile(r"(?:<!--[^>]*-->\s*)+\Z")
MARKER = re.compile(r"<!--\s*([\w-]+):(.*?)-->", re.S)


class Block(NamedTuple):
    code: str
    line: int
    no_run: str | None  # the reason, or None for a block that runs
    smoke: tuple  # (name, value) pairs


def blocks(text: str, language: str) -> list[Block]:
    """Each fenced block in `language`, with the markers just above it."""
    out = []
    for match in FENCE.finditer(text):
        if match.group(1) != language:
            continue
        above = MARKERS.search(text[:match.start()])
        no_run, substitutions = None, []
        for kind, body in MARKER.findall(above.group(0) if above else ""):
            if kind == "no-run":
                no_run = body.strip()
            elif kind == "smoke":
                substitutions += [tuple(p.strip() for p in item.split("=", 1))
                                  for item in body.split(";") if item.strip()]
        out.append(Block(match.group(2), text.count("\n", 0, match.start()) + 1, no_run,
                         tuple(substitutions)))
    return out


def _value_end(code: str, start: int) -> int:
    """The end of the expression starting at `start`: the first ',', ')' or newline
    outside brackets."""
    depth = 0
    for i in range(start, len(code)):
        char = code[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return i
            depth -= 1
        elif char in ",\n" and depth == 0:
            return i
    return len(code)


def smoke(code: str, name: str, value: str) -> tuple[str, int]:
    """`code` with every `name=<expr>` keyword argument set to `name=value`, and the count."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}\s*=(?!=)\s*")
    out, count, pos = [], 0, 0
    for match in pattern.finditer(code):
        if match.start() < pos:
            continue
        out.append(code[pos:match.end()] + value)
        pos = _value_end(code, match.end())
        count += 1
    return "".join(out) + code[pos:], count


def page_id(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT))


def test_pages_are_found_and_have_examples():
    names = {p.name for p in PAGES}
    assert {"README.md", "getting-started.md", "model.md", "sweeps.md", "schemes.md",
            "theory.md", "training.md", "reproduction.md", "scale.md", "benchmarking.md",
            "conventions.md", "composition.md"} <= names
    runnable = sum(b.no_run is None for p in PAGES for b in blocks(p.read_text(), "python"))
    assert runnable >= 30, runnable


def test_no_run_markers_give_a_reason_and_are_few():
    skipped = [(page_id(p), b.line, b.no_run) for p in PAGES
               for b in blocks(p.read_text(), "python") if b.no_run is not None]
    assert all(reason for _, _, reason in skipped), skipped
    assert len(skipped) <= MAX_NO_RUN, skipped


def test_smoke_substitution_replaces_whole_arguments():
    code = "f(dims=[10, 20], num_seeds=100,\n  num_samples=[1, g(2, 3)])\nnum_seeds == 3"
    out, count = smoke(code, "dims", "[10]")
    assert (out, count) == ("f(dims=[10], num_seeds=100,\n  num_samples=[1, g(2, 3)])"
                            "\nnum_seeds == 3", 1)
    out, count = smoke(code, "num_seeds", "2")
    assert count == 1 and "num_seeds=2," in out and out.endswith("num_seeds == 3")


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_page_examples_run(path, monkeypatch, tmp_path):
    namespace = {"__name__": "__docs__"}
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    for block in blocks(path.read_text(), "python"):
        where = f"{page_id(path)}:{block.line}"
        code = block.code
        for name, value in block.smoke:
            code, count = smoke(code, name, value)
            assert count, f"{where}: the smoke marker {name}={value} matches no argument"
        compiled = compile(code, where, "exec")
        if block.no_run is None:
            exec(compiled, namespace)
    import matplotlib.pyplot as plt

    plt.close("all")


def _cli_commands(text: str):
    """Each `memjax ...` command of the shell blocks, continuation lines joined."""
    for code in ["\n".join(b.code for b in blocks(text, lang)) for lang in ("bash", "sh")]:
        code = code.replace("\\\n", " ")
        for line in code.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("memjax ") or line.startswith(".venv/bin/memjax "):
                yield line


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_shell_commands_parse(path):
    from memjax import cli

    parser = cli.build_parser()
    for line in _cli_commands(path.read_text()):
        args = shlex.split(line.replace("$ID", "0").replace("$SLURM_ARRAY_TASK_ID", "0"))
        try:
            parser.parse_args(args[1:])
        except SystemExit as err:
            raise AssertionError(f"{page_id(path)}: {line!r} does not parse") from err


def test_docstring_examples_run():
    failed = attempted = 0
    for info in pkgutil.walk_packages(memjax.__path__, "memjax."):
        if info.name == "memjax.__main__":  # runs the command line when imported
            continue
        module = importlib.import_module(info.name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS |
                                 doctest.NORMALIZE_WHITESPACE, report=False)
        failed, attempted = failed + result.failed, attempted + result.attempted
    assert failed == 0, f"{failed} of {attempted} docstring examples failed"
