"""The `memjax reproduce` command: parser, estimate, the run loop and its on-disk reuse.

`memjax.cli` delegates here lazily, so building the parser or `--list` imports no JAX.
Each finished target leaves `targets/<name>.json` in the output folder: the configuration
it ran under (arguments, memjax version, a digest of memjax's sources, dtype), its rows, figures, settings, wall time and the SHA-256 of every file it
wrote. A rerun with the same configuration reuses it after checking those hashes (a
changed configuration, a missing or altered file, or `--overwrite` recomputes it). The
report is rewritten after every target.
"""

from __future__ import annotations

import datetime
import hashlib
import inspect
import json
import pathlib
import subprocess
import sys
import time
import zlib

MANIFEST_VERSION = 1
REPORT_FILES = {"report.md", "report.html", "claims.json"}
CONVENTIONS = {
    "memjax": "memjax's defaults: the embeddings for each d are the first d coordinates "
              "of one draw, scaled at d (output embeddings of unit norm at every d); "
              "top-P ties broken at random from the seed's key.",
    "authors": "the authors' released code: output embeddings normalised at d_max, then "
               "truncated to d (unequal norms at small d), inputs scaled at d_max, and "
               "top-P ties in the fixed order of an unstable sort of the counts "
               "(`tie_break='unstable'`, XLA's sort). What differs from "
               "memjax's defaults is only this scaling and tie order; everything else "
               "(argmax tie rule, error, nested draws and streams, P = ⌊d/12⌋ in §5.1 and "
               "⌊d/8⌋ in §5.2) is the same.",
}


def reproduction_targets() -> dict:
    """Every reproduction target by name (`memjax.reproduce.TARGETS`)."""
    from memjax.reproduce import TARGETS

    return TARGETS


def add_reproduce_parser(subparsers):
    p = subparsers.add_parser(
        "reproduce", help="reproduce the paper's scaling laws: figures, data and a report",
        description="Run the paper's experiments (SPEC §5) and more claims; write every "
        "figure (PNG, PDF), every grid's data (npz + JSON, CSV) and report.md / "
        "report.html / claims.json, rewritten after every target. Targets already on "
        "disk with the same configuration are reused.")
    p.add_argument("--out", default="results/reproduce", help="output folder")
    p.add_argument("--only", default=None, help="comma-separated target names")
    p.add_argument("--quick", action="store_true", help="reduced sizes (smoke test)")
    p.add_argument("--seeds", type=int, default=None,
                   help="trials per grid (default: each target's paper count)")
    p.add_argument("--key", type=int, default=0, help="the random key's seed (default 0)")
    p.add_argument("--conventions", default="memjax", choices=tuple(CONVENTIONS),
                   help="memjax (default) or authors: the released code's embedding "
                        "scaling and tie order (explicit-scheme targets)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute targets already on disk")
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--jobs", type=int, default=None,
                   help="targets run at once, each in its own process, and the "
                        "optimizer grid's worker processes (default: 2 on a CPU with 2 "
                        "or more cores, else 1); a target's numbers do not depend on it")
    p.set_defaults(run=run_reproduce)


def list_targets(targets) -> str:
    """One line per target: name, paper experiment, description (whole)."""
    width = max(map(len, targets)) + 2
    lines = [f"{'target':<{width}}{'paper':<8}description"]
    for name, t in targets.items():
        lines.append(f"{name:<{width}}{t.figure:<8}{t.description}"
                     + ("" if t.default else " [not run by default]"))
    return "\n".join(lines)


def select(targets, only) -> list[str]:
    if not only:
        return [n for n, t in targets.items() if t.default]
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in targets]
    if unknown:
        raise ValueError(f"--only names unknown targets {unknown}; known: "
                         f"{', '.join(targets)}.")
    return names


# Two processes on the 2-core CPU the costs were measured on ran 1.36× (default targets:
# 196 s one at a time, 144 s two at a time) and 1.43× (--quick: 55.5 s, 38.9 s) as fast as
# one, not 2×: one target's XLA threads already use both cores part of the time
# (benchmarks/README.md, fourth session). With total/jobs the estimate was 96 s for 144 s.
EXTRA_JOB_SPEEDUP = 0.4


def estimate(targets, names, *, quick, seeds, jobs=1) -> tuple[float, float]:
    """(seconds, peak MiB) the targets `names` should take, from their measured costs.

    A target's time is its measured time at its default seed count (one process at a
    time), scaled as 0.3 + 0.7·seeds/default (compilation and drawing do not scale with
    seeds). With `jobs` processes: the longest target or total / speed-up, whichever is
    more, where each process after the first adds `EXTRA_JOB_SPEEDUP` (the processes share
    the cores the costs were measured on), and `jobs` times the peak memory.
    """
    total, peak, longest = 0.0, 0.0, 0.0
    for name in names:
        t = targets[name]
        base, default = (t.quick_seconds, t.trials[1]) if quick else (t.seconds, t.trials[0])
        cost = base * (1.0 if seeds is None else 0.3 + 0.7 * seeds / default)
        total, longest = total + cost, max(longest, cost)
        peak = max(peak, t.quick_memory_mib if quick else t.memory_mib)
    workers = max(1, min(jobs, len(names)))
    return max(longest, total / (1 + EXTRA_JOB_SPEEDUP * (workers - 1))), peak * workers


def run_reproduce(args):
    targets = reproduction_targets()
    if args.list:
        print(list_targets(targets))
        return
    names = select(targets, args.only)
    if args.seeds is not None and args.seeds < 2:
        raise ValueError(f"--seeds must be an integer >= 2 (a band needs two); "
                         f"got {args.seeds}.")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1; got {args.jobs}.")
    run(args.out, names, key=args.key, quick=args.quick, seeds=args.seeds,
        conventions=args.conventions, progress=not args.no_progress,
        overwrite=args.overwrite, command="memjax reproduce " + " ".join(sys.argv[2:]),
        jobs=default_jobs() if args.jobs is None else args.jobs)


def default_jobs() -> int:
    """2 target processes on a CPU with at least 2 cores (compilation is single-threaded
    on CPU, so two targets compile side by side); 1 on accelerators (each process would
    claim the device's memory)."""
    import os

    import jax

    return 2 if jax.default_backend() == "cpu" and (os.cpu_count() or 1) >= 2 else 1


def run(out_dir, names, *, key=0, quick=False, seeds=None, conventions="memjax",
        progress=True, overwrite=False, command=None, jobs=1) -> pathlib.Path:
    """Runs (or reuses) each target, rewriting the report after each; returns report.md.

    With jobs > 1, up to `jobs` targets run at once, each in a fresh process writing into
    its own staging folder (`<out>/.staging/<name>`); its files move into `out_dir` when
    it finishes. A target's key depends on its name only, so its numbers are the same
    whatever `jobs` is. Targets that keep state between runs in subfolders (the
    resumable optimizer grid) always run in this process; the optimizer grid computes
    its blocks in `jobs` worker processes.
    """
    from memjax.reproduce import report, style

    if conventions not in CONVENTIONS:
        raise ValueError(f"conventions must be one of {tuple(CONVENTIONS)}; "
                         f"got {conventions!r}.")
    from memjax import _checks

    jobs = _checks.int_at_least("jobs", jobs, 1)
    targets = reproduction_targets()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = provenance(key=key, quick=quick, seeds=seeds, conventions=conventions,
                      command=command)
    sections = [_pending(name, targets[name]) for name in names]
    reused = {}
    for name in names:
        config = _config(name, key=key, quick=quick, seeds=seeds, conventions=conventions)
        manifest, why = (None, "--overwrite") if overwrite else load_manifest(out, name,
                                                                            config)
        if manifest is not None:
            reused[name] = manifest
        elif why != "absent":
            print(f"{name}: recomputing ({why})", flush=True)
    seconds, mib = estimate(targets, [n for n in names if n not in reused], quick=quick,
                            seeds=seeds, jobs=jobs)
    print(f"memjax reproduce: {len(names)} targets ({len(reused)} reused from {out}); "
          f"estimated {_duration(seconds)} and ≤ {mib / 1024:.1f} GiB peak memory "
          "(measured on a 2-core CPU)", flush=True)
    start = time.perf_counter()
    path = report.write_report(out, sections, meta)  # all pending: valid from the start
    position = {name: i for i, name in enumerate(names)}

    def finish(name, manifest):
        nonlocal path
        i = position[name]
        sections[i] = _section(name, targets[name], manifest, reused=name in reused)
        meta["seconds"] = round(time.perf_counter() - start, 2)
        meta["seconds_by_target"] = {s["name"]: s["seconds"] for s in sections
                                     if s["status"] == "done"}
        meta["written"] = _now()
        path = report.write_report(out, sections, meta)

    def announce(name):
        i = position[name]
        print(f"[{i + 1}/{len(names)}] {name}: {targets[name].description}", flush=True)
        sections[i]["status"] = "running"
        report.write_report(out, sections, meta)

    todo = []
    for name in names:
        if name in reused:
            print(f"[{position[name] + 1}/{len(names)}] {name}: reused "
                  f"({reused[name]['seconds']:.0f} s when computed)", flush=True)
            finish(name, reused[name])
        else:
            todo.append(name)
    kwargs = dict(key=key, quick=quick, seeds=seeds, conventions=conventions)
    apart = [n for n in todo if targets[n].isolated] if jobs > 1 else []
    if len(apart) > 1:
        _run_apart(out, apart, targets, jobs, kwargs, announce, finish)
    for name in todo:
        if name in apart and len(apart) > 1:
            continue
        announce(name)
        manifest = _compute(out, name, targets[name], style, report, progress=progress,
                            config=_config(name, **kwargs), jobs=jobs, **kwargs)
        _write_manifest(out, name, manifest)
        print(f"    {name} done in {manifest['seconds']:.1f} s", flush=True)
        finish(name, manifest)
    print(f"wrote {path}, {out / 'report.html'} and {out / 'claims.json'} in "
          f"{meta['seconds']:.0f} s")
    for s in sections:
        print(f"  {s['name']:<22}{report._counts_text(s['rows'])}")
    return path


def _compute(out, name, target, style, report, *, key, quick, seeds, conventions,
             progress, config, jobs=1) -> dict:
    import jax

    fn = target.load()
    accepted = inspect.signature(fn).parameters  # conventions, jobs: where a target uses them
    extra = {k: v for k, v in (("conventions", conventions), ("jobs", jobs))
             if k in accepted}
    before = _snapshot(out)
    begin = time.perf_counter()
    # A target's key depends on its name only, not on which other targets run.
    key = jax.random.fold_in(jax.random.key(key), zlib.crc32(name.encode()) & 0x7FFFFFFF)
    with style.context():  # one figure style, restored afterwards
        rows, figures = fn(out, key=key, quick=quick, seeds=seeds, progress=progress,
                           **extra)
    seconds = round(time.perf_counter() - begin, 2)
    after = _snapshot(out)
    files = sorted(f for f, stamp in after.items() if before.get(f) != stamp)
    settings = _settings(out, files)
    if conventions != "memjax" and not extra:
        settings.append(f"conventions: {conventions} does not apply (no explicit scheme)")
    manifest = {"version": MANIFEST_VERSION, "config": config, "seconds": seconds,
                "finished": _now(), "rows": [report.row_dict(r) for r in rows],
                "figures": [list(f) for f in figures], "settings": settings,
                "conventions_applied": bool(extra),
                "files": {f: _sha256(out / f) for f in files}}
    return manifest


def _write_manifest(out, name, manifest):
    from memjax import _atomic
    from memjax.reproduce import report

    _atomic.write_text(pathlib.Path(out) / "targets" / f"{name}.json",
                       json.dumps(manifest, indent=2, default=report._json_default) + "\n")


def _staging(out, name) -> pathlib.Path:
    return pathlib.Path(out) / ".staging" / name


def _worker(out, name, kwargs) -> dict:
    """Runs one target in this (fresh) process, in its staging folder: its manifest."""
    import shutil

    from memjax.reproduce import report, style

    stage = _staging(out, name)
    shutil.rmtree(stage, ignore_errors=True)  # what an interrupted run left
    stage.mkdir(parents=True)
    return _compute(stage, name, reproduction_targets()[name], style, report,
                    progress=False, config=_config(name, **kwargs), **kwargs)


def _run_apart(out, names, targets, jobs, kwargs, announce, finish):
    """Runs `names` in up to `jobs` worker processes (longest first; not pinned: a
    target may use every core); as each finishes, moves its files from its staging
    folder into `out` (refusing a name another target of this run wrote) and hands its
    manifest to `finish`. A failure (or Ctrl-C) cancels the targets not started and is
    raised once the running ones stop."""
    import os
    import shutil

    from memjax import _processes

    written = {}
    order = sorted(names, key=lambda n: -(targets[n].quick_seconds if kwargs["quick"]
                                          else targets[n].seconds))

    def done(name, manifest):
        stage = _staging(out, name)
        for f in manifest["files"]:
            if f in written:
                raise ValueError(f"targets {written[f]!r} and {name!r} both wrote "
                                 f"{f}; give their files distinct names")
            written[f] = name
            os.replace(stage / f, pathlib.Path(out) / f)
        _write_manifest(out, name, manifest)
        print(f"    {name} done in {manifest['seconds']:.1f} s", flush=True)
        finish(name, manifest)

    # submitted = started: the report says so
    _processes.run(_worker, [(n, (str(out), n, kwargs)) for n in order], done, jobs,
                   pin=False, started=announce)
    shutil.rmtree(pathlib.Path(out) / ".staging", ignore_errors=True)


def load_manifest(out, name, config) -> tuple[dict | None, str]:
    """(manifest, "") when the target on disk can be reused, else (None, why not)."""
    path = pathlib.Path(out) / "targets" / f"{name}.json"
    if not path.exists():
        return None, "absent"
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("version") != MANIFEST_VERSION:
            return None, f"{path.name} has another format"
        if manifest.get("config") != config:
            return None, "its configuration changed"
        rows, figures = manifest["rows"], manifest["figures"]
        if not (isinstance(rows, list) and all(isinstance(r, dict) and "verdict" in r
                                               for r in rows)):
            return None, f"{path.name} holds malformed rows"
        for f, digest in manifest["files"].items():
            if not (pathlib.Path(out) / f).is_file():
                return None, f"{f} is missing"
            if _sha256(pathlib.Path(out) / f) != digest:
                return None, f"{f} changed since it was written"
        if any(png not in manifest["files"] for _, png in figures):
            return None, "a figure is not among its files"
        float(manifest["seconds"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"{path.name} is unreadable ({err})"
    return manifest, ""


def _config(name, *, key, quick, seeds, conventions) -> dict:
    import jax

    from memjax import __version__

    return {"target": name, "key": key, "quick": quick, "seeds": seeds,
            "conventions": conventions, "memjax": __version__, "code": _code_digest(),
            "x64": bool(jax.config.jax_enable_x64)}


def _code_digest() -> str:
    """SHA-256 of memjax's sources: changed code recomputes a target instead of reusing."""
    digest = hashlib.sha256()
    root = pathlib.Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _pending(name, target) -> dict:
    return {"name": name, "description": target.description, "figure": target.figure,
            "status": "pending", "rows": [], "figures": [], "settings": [], "seconds": 0.0}


def _section(name, target, manifest, *, reused) -> dict:
    return {**_pending(name, target), "status": "done", "rows": manifest["rows"],
            "figures": [tuple(f) for f in manifest["figures"]],
            "settings": manifest["settings"], "seconds": manifest["seconds"],
            "reused": reused}


def _snapshot(out) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in pathlib.Path(out).iterdir()
            if p.is_file() and p.name not in REPORT_FILES and not p.name.endswith(".tmp")}


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _settings(out, files) -> list[str]:
    """One line per grid the target saved (from its .json sidecars): N, M, α, axes."""
    lines = []
    for f in files:
        if not f.endswith(".json"):
            continue
        try:
            meta = json.loads((pathlib.Path(out) / f).read_text())
            config, coords = meta["config"], meta["coords"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        parts = [f"{symbol} = {config[k]}" for k, symbol in (
            ("num_inputs", "N"), ("num_outputs", "M"), ("zipf_exponent", "α"),
            ("dim", "d"), ("batch_size", "B"), ("learning_rate", "γ")) if k in config]
        for axis, values in coords.items():
            parts.append(f"{axis}: {len(values)} seeds" if axis == "seed" else
                         f"{axis} ∈ {_values(values)}")
        lines.append(f"{f[:-5]}: " + ", ".join(parts))
    return lines


def _values(values) -> str:
    values = list(values)
    if len(values) > 6 and all(isinstance(v, (int, float)) for v in values):
        return f"[{values[0]:g}, {values[-1]:g}] ({len(values)} values)"
    return "{" + ", ".join(str(v) for v in values) + "}"


def provenance(*, key, quick, seeds, conventions, command) -> dict:
    """What produced the report: versions, commit, device, dtype and the arguments."""
    import jax

    from memjax import results

    versions = results.versions()
    device = jax.devices()[0]
    return {"memjax": versions["memjax"], "git_commit": _git_commit(), "jax": versions[
        "jax"], "jaxlib": versions["jaxlib"], "backend": versions["backend"],
            "device": f"{device.platform}: {getattr(device, 'device_kind', device)} "
                      f"× {jax.device_count()}",
            "dtype": "float64" if versions["x64"] else "float32", "key": key,
            "seeds": seeds, "quick": quick, "conventions": conventions,
            "conventions_text": CONVENTIONS[conventions], "command": command,
            "python": versions["python"], "platform": versions["platform"],
            "started": _now()}


def _git_commit() -> str | None:
    """The checkout's commit (with '+dirty' for uncommitted changes), or None."""
    root = pathlib.Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _duration(seconds) -> str:
    return f"~{seconds:.0f} s" if seconds < 120 else f"~{seconds / 60:.0f} min"
