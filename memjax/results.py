"""Results: labelled errors that keep their labels through selections and reductions.

A `SweepResult` holds `.error`, a NumPy array whose axes are named by `.dims` and labelled
by `.coords`, a boolean `.finite` mask of the same shape (False where a training run
diverged; its error is then NaN), and the `.config` that produced it. `sel`/`isel` select
by label/position and `mean`, `std`, `min`, `max`, `quantile` reduce over named dims;
each returns a `SweepResult` again, so `result.sel(scheme="threshold").mean("seed")`
chains, until `.values` or `np.asarray(result)` gives the bare array (NumPy functions,
arithmetic and `result[...]` also work on the bare values). Files: `.npz` + JSON sidecar
(`save`/`load`), CSV, pandas (`to_dataframe`), xarray (`to_xarray`, the `analysis` extra).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime
import io
import itertools
import json
import math
import pathlib
import platform
import warnings
import zipfile

import numpy as np

from memjax import _atomic

DIMS = ("scheme", "seed", "num_samples", "dim")
TRAIN_DIMS = ("model", "optimizer", "layer_norm", "batch_size", "learning_rate")
# Config entries that say how a result was computed, not what: they may differ between
# two results of the same configuration (routes agree up to rounding).
# (`non_finite_runs` counts diverged training runs: an outcome, not a setting.)
COMPUTATION_KEYS = ("num_devices", "token_chunk", "route", "lanes", "kept_chunks",
                    "non_finite_runs")


@dataclasses.dataclass(eq=False, repr=False)
class SweepResult(np.lib.mixins.NDArrayOperatorsMixin):
    """Labelled errors: `.error[dims...]`, e.g. dims (scheme, seed, num_samples, dim).

    `coords` maps every dim to its labels; a dim removed by selecting one label stays as
    a scalar coordinate (as in xarray). `kind` ('sweep', 'train', ...) defaults from the
    dims; `skipped` counts the non-finite values that `skipna=True` reductions left out.
    """

    error: np.ndarray
    coords: dict
    config: dict
    dims: tuple[str, ...] = DIMS
    finite: np.ndarray | None = None
    kind: str | None = None
    skipped: int = 0

    def __post_init__(self):
        self.error, self.dims = np.asarray(self.error), tuple(self.dims)
        missing = [d for d in self.dims if d not in self.coords]
        if missing:
            raise ValueError(f"coords has no labels for dims {missing}.")
        lengths = tuple(len(self.coords[d]) for d in self.dims)
        if self.error.shape != lengths:
            raise ValueError(f"error has shape {self.error.shape}, but the coordinates "
                             f"have lengths {list(lengths)}.")
        self.finite = (np.ones(lengths, bool) if self.finite is None
                       else np.asarray(self.finite))
        if self.finite.shape != lengths or self.finite.dtype != bool:
            raise ValueError(f"finite must be a bool array of shape {lengths}; got "
                             f"{self.finite.dtype} of shape {self.finite.shape}.")
        self.kind = _infer_kind(self.dims) if self.kind is None else self.kind

    # --- the bare values: NumPy sees `.error` -----------------------------------------
    @property
    def values(self) -> np.ndarray:
        return self.error

    def __array__(self, dtype=None, copy=None):
        return np.array(self.error, dtype=dtype, copy=True) if copy else np.asarray(
            self.error, dtype=dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*_bare(inputs), **_bare(kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return func(*_bare(args), **_bare(kwargs))

    def __getitem__(self, key):  # positional indexing of the values (`isel` keeps labels)
        return self.error[key]

    def __len__(self):
        return len(self.error)

    def __float__(self):
        return float(self.error)

    def __format__(self, spec):
        return format(self.error.item() if self.ndim == 0 else str(self), spec)

    shape = property(lambda self: self.error.shape)
    ndim = property(lambda self: self.error.ndim)
    size = property(lambda self: self.error.size)
    dtype = property(lambda self: self.error.dtype)
    T = property(lambda self: self.error.T)

    def axis(self, dim: str) -> int:
        if dim not in self.dims:
            raise ValueError(f"dim must be one of {self.dims}; got {dim!r}.")
        return self.dims.index(dim)

    # --- selection ----------------------------------------------------------------------
    def sel(self, method: str | None = None, **labels) -> SweepResult:
        """Selects by coordinate label, e.g. `sel(scheme="threshold", dim=[10, 100])`.

        A single label removes its dim (kept as a scalar coordinate); a list keeps it. A
        scheme (any text label) may be given by its short name ('threshold' for
        'threshold(top=d/8)') when only one label has it. `method='nearest'` picks the
        closest numeric label instead of requiring an exact one.
        """
        if method not in (None, "nearest"):
            raise ValueError(f"method must be None or 'nearest'; got {method!r}.")
        indexers = {}
        for dim, label in labels.items():
            self._dim_to_select(dim)
            indexers[dim] = ([self._index(dim, v, method) for v in label]
                             if _is_list(label) else self._index(dim, label, method))
        return self.isel(**indexers)

    def isel(self, **indices) -> SweepResult:
        """Selects by position: an int removes the dim, a slice or list of ints keeps it."""
        error, finite, dims, coords = self.error, self.finite, list(self.dims), dict(
            self.coords)
        for dim, index in indices.items():
            self._dim_to_select(dim)
            axis, size = dims.index(dim), len(coords[dim])
            if isinstance(index, slice):
                index = list(range(size))[index]
            for i in (index if _is_list(index) else [index]):
                if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not (
                        -size <= i < size):
                    raise ValueError(f"{dim} index must be an integer in [{-size}, {size}); "
                                     f"got {_plain(i)!r}.")
            error, finite = np.take(error, index, axis), np.take(finite, index, axis)
            if _is_list(index):
                coords[dim] = _take(coords[dim], list(index))
            else:
                coords[dim] = _plain(coords[dim][int(index)])
                dims.remove(dim)
        return self._replace(error, finite, dims, coords)

    def _dim_to_select(self, dim):
        if dim not in self.dims:
            raise ValueError(f"cannot select on {dim!r}: dims are {self.dims}.")

    def _index(self, dim, label, method) -> int:
        values, label = _plain(self.coords[dim]), _plain(label)
        if label in values:
            return values.index(label)
        if isinstance(label, str):
            short = [v for v in values if isinstance(v, str) and v.split("(")[0] == label]
            if len(short) > 1:
                raise ValueError(f"{dim}={label!r} is ambiguous: it matches {short}; "
                                 "give the full name.")
            if short:
                return values.index(short[0])
        numeric = all(_is_number(v) for v in values + [label])
        if method == "nearest" and numeric and not math.isnan(label):
            gaps = [0.0 if v == label else abs(v - label) for v in values]
            return int(np.argmin(gaps))
        hint = " (method='nearest' picks the closest)" if numeric and method is None else ""
        raise ValueError(f"{dim}={label!r} is not in the grid{hint}; values are {values}.")

    # --- reductions ---------------------------------------------------------------------
    def mean(self, dim="seed", *, axis=None, skipna: bool = False) -> SweepResult:
        """The mean over `dim` (a name, a tuple of names, or None: all dims), which is
        removed. NaN (diverged runs) propagates unless `skipna=True` leaves it out."""
        return self._reduce(np.mean, np.nanmean, dim, axis, skipna)

    def std(self, dim="seed", *, axis=None, skipna: bool = False, ddof: int = 0):
        """The standard deviation over `dim` (ddof 0 by default); NaN as in `mean`."""
        return self._reduce(np.std, np.nanstd, dim, axis, skipna, ddof=ddof)

    def min(self, dim=None, *, axis=None, skipna: bool = False) -> SweepResult:
        """The minimum over `dim` (default: all dims), e.g. the best step size per seed:
        `result.min("learning_rate", skipna=True)`; NaN as in `mean`."""
        return self._reduce(np.min, np.nanmin, dim, axis, skipna)

    def max(self, dim=None, *, axis=None, skipna: bool = False) -> SweepResult:
        """The maximum over `dim` (default: all dims); NaN as in `mean`."""
        return self._reduce(np.max, np.nanmax, dim, axis, skipna)

    def quantile(self, q, dim="seed", *, skipna: bool = False) -> SweepResult:
        """Quantile(s) q in [0, 1] over `dim`; a list of q adds a leading 'quantile' dim."""
        q_values = np.asarray(q, float)
        if q_values.ndim > 1 or np.any(~(q_values >= 0) | (q_values > 1)):
            raise ValueError(f"q must be a number or a list of numbers in [0, 1]; "
                             f"got {_plain(q)!r}.")
        lead = None if q_values.ndim == 0 else ("quantile", q_values)
        return self._reduce(lambda a, axis: np.quantile(a, q_values, axis=axis),
                            lambda a, axis: np.nanquantile(a, q_values, axis=axis),
                            dim, None, skipna, lead=lead)

    def _reduce(self, func, nanfunc, dim, axis, skipna, lead=None, **kwargs):
        """func(values, axis=axes) over the named dims (or NumPy `axis`), NaN where a run
        is not finite; nanfunc instead when skipna. lead: (name, labels) of a new first
        dim that func adds."""
        if axis is not None:
            axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
            dims = tuple(self.dims[a] for a in axes)
        else:
            dims = self.dims if dim is None else (dim,) if isinstance(dim, str) else dim
        axes = tuple(self.axis(d) for d in dims)
        # The mask is authoritative: a diverged run is NaN here whatever value it holds.
        values = np.where(self.finite, self.error, np.nan)
        skipped = int(np.isnan(values).sum()) if skipna else 0
        with warnings.catch_warnings():  # an all-NaN slice is NaN, said by `finite`
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.asarray((nanfunc if skipna else func)(values, axis=axes, **kwargs))
        keep = [d for d in self.dims if d not in dims]
        coords = {k: v for k, v in self.coords.items() if k not in dims}
        if lead is not None:
            keep, coords = [lead[0]] + keep, {lead[0]: lead[1], **coords}
        return self._replace(out, np.isfinite(out), keep, coords, self.skipped + skipped)

    def _replace(self, error, finite, dims, coords, skipped=None) -> SweepResult:
        return SweepResult(error, coords, self.config, tuple(dims), finite, self.kind,
                           self.skipped if skipped is None else skipped)

    # --- text ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        sizes = ", ".join(f"{d}: {len(self.coords[d])}" for d in self.dims)
        lines = [f"<memjax.SweepResult kind={self.kind!r}> error ({sizes}) {self.dtype}"]
        lines += [f"  {d:<14}{_describe(self.coords[d])}" for d in self.dims]
        scalars = [f"{k}={_plain(v)!r}" for k, v in self.coords.items() if k not in self.dims]
        if scalars:
            lines.append(f"  {'selected':<14}{', '.join(scalars)}")
        bad = int((~self.finite).sum())
        if bad:
            lines.append(f"  {'non-finite':<14}{bad} of {self.size} (NaN; mean/std "
                         "propagate it unless skipna=True)")
        if self.skipped:
            lines.append(f"  {'skipped':<14}{self.skipped} non-finite values left out of "
                         "reductions (skipna=True)")
        config = ", ".join(f"{k}={_plain(v)}" for k, v in self.config.items())
        lines.append(f"  {'config':<14}{config[:200] + ('…' if len(config) > 200 else '')}")
        return "\n".join(lines + _table(self))

    # --- tables and files ---------------------------------------------------------------
    def to_dataframe(self):
        """A tidy pandas DataFrame: one row per point; columns: dims, scalar coordinates,
        'error', and 'finite' for training results or when some value is non-finite."""
        pd = _optional("pandas", "to_dataframe")
        return pd.DataFrame(dict(self._columns()))

    def to_csv(self, path) -> pathlib.Path:
        """Writes `to_dataframe()`'s table as CSV (the csv module: names with commas are
        quoted; floats exact). The name is kept as given ('.csv' appended if missing)."""
        path = output_path(path, ".csv")
        columns = self._columns()
        rows = zip(*[[repr(float(v)) if isinstance(v, float) else v for v in c.tolist()]
                     for _, c in columns])
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([name for name, _ in columns])
        writer.writerows(rows)
        return _atomic.write_text(path, text.getvalue())

    def _columns(self) -> list:
        grids = np.meshgrid(*[np.arange(len(self.coords[d])) for d in self.dims],
                            indexing="ij")
        out = [(d, np.asarray(self.coords[d])[g.reshape(-1)]) for d, g in zip(self.dims,
                                                                                grids)]
        out += [(k, np.full(self.size, _plain(v))) for k, v in self.coords.items()
                if k not in self.dims]
        out.append(("error", self.error.reshape(-1)))
        if self.kind == "train" or not self.finite.all():
            out.append(("finite", self.finite.reshape(-1)))
        return out

    def to_xarray(self):
        """An `xarray.Dataset` with `error` (and `finite` for training results or when
        some value is non-finite) over the dims, the coordinates (scalar ones too), and
        the config as attrs with their own types (needs xarray: the `analysis` extra)."""
        xr = _optional("xarray", "to_xarray")
        data = {"error": (self.dims, self.error)}
        if self.kind == "train" or not self.finite.all():
            data["finite"] = (self.dims, self.finite)
        coords = {k: (k, np.asarray(v)) if k in self.dims else _plain(v)
                  for k, v in self.coords.items()}
        return xr.Dataset(data, coords=coords, attrs={**copy.deepcopy(self.config),
                                                      "kind": self.kind,
                                                      "skipped": self.skipped})

    def save(self, path, *, overwrite: bool = False) -> pathlib.Path:
        """Writes `path` (.npz: error, finite, coordinates) and its .json sidecar (config,
        coordinates, versions), each atomically: never half-written. The name is kept as
        given ('.npz' appended if missing: 'alpha1.5' -> 'alpha1.5.npz'). A result of
        another configuration already there is not replaced unless `overwrite=True`."""
        path = output_path(path, ".npz")
        if not overwrite:
            refuse_other(path, identity(self))
        arrays = {"error": self.error, "finite": self.finite}
        arrays.update({f"coord_{k}": np.asarray(v) for k, v in self.coords.items()})
        meta = {"kind": self.kind, "dims": list(self.dims), "config": self.config,
                "coords": {k: _jsonable(v) for k, v in self.coords.items()},
                "skipped": self.skipped, "versions": versions(),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        # Both files are complete before either is renamed into place.
        with _atomic.replacing(path.with_suffix(".json")) as sidecar, \
                _atomic.replacing(path) as npz:
            np.savez(npz, **arrays)
            sidecar.write((json.dumps(meta, indent=2, default=_json_default) + "\n").encode())
        return path


def output_path(path, suffix: str) -> pathlib.Path:
    """`path` with `suffix` appended unless its name already ends with it (any case):
    'results/alpha1.5' -> 'results/alpha1.5.npz', 'x.npz' stays 'x.npz'."""
    path = pathlib.Path(path)
    if not path.name or path.name in (".", ".."):
        raise ValueError(f"output path {str(path)!r} names no file.")
    return path if path.name.lower().endswith(suffix.lower()) else path.with_name(
        path.name + suffix)


def load(path) -> SweepResult:
    """Reads a result written by `SweepResult.save` (`path` with or without '.npz')."""
    path = _result_path(path)
    meta = read_meta(path)
    try:
        with np.load(path) as arrays:
            dims = tuple(meta["dims"])
            coords = {k: arrays[f"coord_{k}"] for k in meta["coords"]}
            coords = {k: ([str(x) for x in v] if v.dtype.kind in "US" else v)
                      if k in dims else v.item() for k, v in coords.items()}
            finite = arrays["finite"] if "finite" in arrays.files else None
            return SweepResult(arrays["error"], coords, meta["config"], dims, finite,
                               meta.get("kind"), meta.get("skipped", 0))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # a truncated, foreign or mis-shaped file
        raise ValueError(f"{path} is not a readable memjax result ({exc}).") from None


def read_meta(path) -> dict:
    """The JSON sidecar of the result at `path`; FileNotFoundError if either file is
    missing, ValueError if they are not a memjax result."""
    path = _result_path(path)
    sidecar = path.with_suffix(".json")
    for file in (path, sidecar):
        if not file.exists():
            raise FileNotFoundError(f"no memjax result at {path}: {file} does not exist.")
    try:
        meta = json.loads(sidecar.read_text())
        if not all(k in meta for k in ("dims", "coords", "config")):
            raise ValueError("no dims, coords and config entries")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{sidecar} is not a memjax result sidecar ({exc}).") from None
    return meta


def identity(result) -> dict:
    """What makes two results the same configuration: kind, dims, coordinates and config
    (without `COMPUTATION_KEYS`), as plain JSON values. `result`: a result or its meta."""
    if isinstance(result, SweepResult):
        result = {"kind": result.kind, "dims": result.dims, "config": result.config,
                  "coords": result.coords}
    coords = {k: _jsonable(v) for k, v in result["coords"].items()}
    config = {k: v for k, v in result["config"].items() if k not in COMPUTATION_KEYS}
    return json.loads(json.dumps({"kind": result.get("kind") or _infer_kind(result["dims"]),
                                  "dims": list(result["dims"]), "coords": coords,
                                  "config": config}, default=_json_default))


def differences(stored: dict, new: dict, limit: int = 3) -> list[str]:
    """The first entries in which two `identity` dicts differ, as text."""
    out = []
    for part in ("kind", "dims", "coords", "config"):
        a, b = stored.get(part), new.get(part)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{part} {k}: {a.get(k)!r} there, {b.get(k)!r} here"
                    for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)]
        elif a != b:
            out.append(f"{part}: {a!r} there, {b!r} here")
    return [_shorten(line) for line in out[:limit]]


def refuse_other(path, new: dict):
    """Raises a ValueError if `path` holds a result whose `identity` differs from `new`
    (or an unreadable file): results are never replaced silently."""
    path = output_path(path, ".npz")
    if not (path.exists() or path.with_suffix(".json").exists()):
        return
    try:
        stored = identity(read_meta(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} exists and is not a readable memjax result ({exc}); "
                         "pass overwrite=True (CLI: --overwrite) to replace it.") from None
    if stored != new:
        raise ValueError(f"{path} holds a result of another configuration "
                         f"({'; '.join(differences(stored, new))}); pass overwrite=True "
                         "(CLI: --overwrite) to replace it, or choose another path.")


def merge(parts) -> SweepResult:
    """Combines results computed on disjoint seed shards of one grid (e.g. a SLURM array
    of `memjax sweep --shard-index i --num-shards n`) into one, seeds in increasing order.

    Seed s always uses fold_in(key, s), so the merge equals the one-process result bit
    for bit. Parts must agree on every coordinate but the seeds, and on the configuration.
    """
    parts = [load(p) if not isinstance(p, SweepResult) else p for p in parts]
    if not parts:
        raise ValueError("merge needs at least one result.")
    first = parts[0]
    seed_axis = first.axis("seed")
    same = lambda cfg: {k: v for k, v in cfg.items() if k != "num_devices"}
    for i, part in enumerate(parts[1:], start=1):
        if (part.dims, part.kind) != (first.dims, first.kind) or same(
                part.config) != same(first.config):
            raise ValueError(f"part {i} has a different configuration from part 0: "
                             f"{same(part.config)} vs {same(first.config)}.")
        for dim in first.dims:
            if dim != "seed" and _plain(part.coords[dim]) != _plain(first.coords[dim]):
                raise ValueError(f"part {i} has different {dim} coordinates from part 0: "
                                 f"{_plain(part.coords[dim])} vs {_plain(first.coords[dim])}.")
    seeds = np.concatenate([np.asarray(p.coords["seed"]) for p in parts])
    if len(set(seeds.tolist())) != len(seeds):
        raise ValueError("the parts share seeds; shards must be disjoint.")
    order = np.argsort(seeds, kind="stable")
    error = np.concatenate([p.error for p in parts], axis=seed_axis)
    finite = np.concatenate([p.finite for p in parts], axis=seed_axis)
    return SweepResult(np.take(error, order, seed_axis), {**first.coords, "seed":
                       seeds[order]}, first.config, first.dims,
                       np.take(finite, order, seed_axis), first.kind)


# --- helpers --------------------------------------------------------------------------------
def _result_path(path) -> pathlib.Path:
    path = pathlib.Path(path)
    return path.with_suffix(".npz") if path.suffix.lower() == ".json" else output_path(
        path, ".npz")


def _infer_kind(dims) -> str:
    return ("train" if set(TRAIN_DIMS) & set(dims) else "sweep" if "scheme" in dims
            else "result")


def _json_default(x):
    if isinstance(x, (np.ndarray, np.generic)):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON serializable")


def _bare(x):
    if isinstance(x, SweepResult):
        return x.error
    if isinstance(x, (list, tuple)):
        return type(x)(_bare(v) for v in x)
    if isinstance(x, dict):
        return {k: _bare(v) for k, v in x.items()}
    return x


def _is_list(x) -> bool:
    return isinstance(x, (list, tuple, range)) or isinstance(x, np.ndarray) and x.ndim == 1


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _plain(x):
    """NumPy scalars and arrays as Python numbers and lists (for messages and JSON)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _take(values, index: list):
    return [values[i] for i in index] if isinstance(values, list) else np.asarray(
        values)[index]


def _jsonable(values):
    """Plain values with inf as the string 'inf' (valid JSON, no bare Infinity)."""
    plain = _plain(values)
    fix = lambda v: "inf" if isinstance(v, float) and math.isinf(v) else v
    return [fix(v) for v in plain] if isinstance(plain, list) else fix(plain)


def _shorten(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[:width] + "…"


def _describe(values) -> str:
    """A coordinate in one line: every label when few, else the range and count."""
    plain = _plain(values)
    if len(plain) <= 6:
        return _shorten(", ".join(map(repr, plain)) if any(isinstance(v, str) for v in
                                                           plain) else ", ".join(map(str, plain)))
    if all(_is_number(v) for v in plain):
        return f"{min(plain)} … {max(plain)} ({len(plain)} values)"
    return _shorten(", ".join(map(repr, plain[:3])) + f", … ({len(plain)} labels)")


def _table(result: SweepResult, max_cells: int = 96) -> list[str]:
    """The seed mean (or the values, without a seed dim) as rows × the last dim, for
    small results only (a repr stays short)."""
    table = result.mean("seed") if "seed" in result.dims else result
    if table.size > max_cells or table.ndim == 0 or len(table.coords[table.dims[-1]]) > 8:
        return [f"  value         {table.values.item():.4g}"] if table.ndim == 0 else []
    last = table.dims[-1]
    rows = np.reshape(table.values, (-1, table.shape[-1]))
    labels = [", ".join(str(_plain(table.coords[d][i])) for d, i in zip(table.dims, index))
              for index in itertools.product(*map(range, table.shape[:-1]))]
    width = max(len(s) for s in labels + [", ".join(table.dims[:-1])]) + 2
    head = "seed mean" if "seed" in result.dims else "values"
    lines = [f"  {head} ({', '.join(table.dims[:-1]) or '-'} × {last}):",
             "  " + " " * width + "".join(f"{_plain(v)!s:>11}" for v in table.coords[last])]
    lines += ["  " + f"{label:<{width}}" + "".join(f"{v:>11.4g}" for v in row)
              for label, row in zip(labels, rows)]
    return lines


def _optional(module: str, caller: str):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"SweepResult.{caller} needs {module}, which memjax does not "
                          f"require: pip install 'memjax[analysis]' (pandas and xarray) "
                          f"or pip install {module}.") from None


def versions() -> dict:
    """Software and machine that produced a result."""
    import jax
    import jaxlib

    from memjax import __version__

    return {"memjax": __version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "x64": bool(jax.config.jax_enable_x64)}
