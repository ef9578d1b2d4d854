"""Results: a labelled error array, with reductions and open file formats.

A result holds `.error`, a NumPy array whose axes are named by `.dims` and labelled by
`.coords`, plus the configuration that produced it. It saves to an `.npz` file with a
JSON sidecar (configuration, coordinates, software versions), to CSV, and converts to a
tidy pandas DataFrame or an xarray DataArray (optional `analysis` extra).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import pathlib
import platform

import numpy as np

from memjax import _atomic

DIMS = ("scheme", "seed", "num_samples", "dim")


@dataclasses.dataclass
class SweepResult:
    """Errors of a sweep: `.error[scheme, seed, num_samples, dim]`."""

    error: np.ndarray
    coords: dict
    config: dict
    dims: tuple[str, ...] = DIMS

    def __post_init__(self):
        self.error = np.asarray(self.error)
        if self.error.shape != tuple(len(self.coords[d]) for d in self.dims):
            raise ValueError(f"error has shape {self.error.shape}, but the coordinates "
                             f"have lengths {[len(self.coords[d]) for d in self.dims]}.")

    def axis(self, dim: str) -> int:
        if dim not in self.dims:
            raise ValueError(f"dim must be one of {self.dims}; got {dim!r}.")
        return self.dims.index(dim)

    def mean(self, dim: str = "seed") -> np.ndarray:
        """The mean over `dim` (default: over seeds); that axis is removed."""
        return self.error.mean(axis=self.axis(dim))

    def std(self, dim: str = "seed") -> np.ndarray:
        """The standard deviation over `dim` (default: over seeds); that axis is removed."""
        return self.error.std(axis=self.axis(dim))

    def sel(self, **labels) -> np.ndarray:
        """The errors at given coordinate labels, e.g. `sel(scheme='uniform', dim=100)`;
        each selected axis is removed."""
        out, dims = self.error, list(self.dims)
        for dim, label in labels.items():
            if dim not in dims:
                raise ValueError(f"cannot select on {dim!r}: dims are {tuple(dims)}.")
            values = list(self.coords[dim])
            matches = [i for i, v in enumerate(values) if v == label]
            if not matches:
                raise ValueError(f"{dim}={label!r} is not in the grid; values are {values}.")
            out = np.take(out, matches[0], axis=dims.index(dim))
            dims.remove(dim)
        return out

    def to_dataframe(self):
        """A tidy pandas DataFrame: one row per point, columns dims + 'error'."""
        import pandas as pd

        index = pd.MultiIndex.from_product([self.coords[d] for d in self.dims],
                                           names=list(self.dims))
        return pd.DataFrame({"error": self.error.reshape(-1)}, index=index).reset_index()

    def to_xarray(self):
        """An xarray DataArray with named dims and coordinates (optional dependency)."""
        import xarray as xr

        return xr.DataArray(self.error, dims=self.dims, name="error",
                            coords={d: list(self.coords[d]) for d in self.dims},
                            attrs={k: json.dumps(v) for k, v in self.config.items()})

    def save(self, path) -> pathlib.Path:
        """Writes `path` (.npz: error and coordinates) and `path` with .json (metadata),
        each atomically (a temporary file, then a rename): never half-written."""
        path = pathlib.Path(path).with_suffix(".npz")
        arrays = {"error": self.error}
        arrays.update({f"coord_{d}": np.asarray(self.coords[d]) for d in self.dims})
        meta = {"dims": list(self.dims), "config": self.config,
                "coords": {d: _jsonable(self.coords[d]) for d in self.dims},
                "versions": versions(),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        # Both files are complete before either is renamed into place.
        with _atomic.replacing(path.with_suffix(".json")) as sidecar, \
                _atomic.replacing(path) as npz:
            np.savez(npz, **arrays)
            sidecar.write((json.dumps(meta, indent=2) + "\n").encode())
        return path

    def to_csv(self, path) -> pathlib.Path:
        """Writes the tidy table (dims + error) as CSV without needing pandas."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        grids = np.meshgrid(*[np.arange(len(self.coords[d])) for d in self.dims],
                            indexing="ij")
        with path.open("w") as f:
            f.write(",".join(self.dims) + ",error\n")
            for flat, value in zip(zip(*(g.reshape(-1) for g in grids)),
                                   self.error.reshape(-1)):
                labels = [self.coords[d][i] for d, i in zip(self.dims, flat)]
                f.write(",".join(map(str, labels)) + f",{float(value)!r}\n")
        return path


def load(path) -> SweepResult:
    """Reads a result written by `SweepResult.save`."""
    path = pathlib.Path(path).with_suffix(".npz")
    meta = json.loads(path.with_suffix(".json").read_text())
    with np.load(path) as arrays:
        dims = tuple(meta["dims"])
        coords = {d: arrays[f"coord_{d}"] for d in dims}
        # Text coordinates (scheme names, ...) come back as Python strings.
        coords.update({d: [str(v) for v in c] for d, c in coords.items()
                       if c.dtype.kind in "US"})
        return SweepResult(error=arrays["error"], coords=coords, config=meta["config"],
                           dims=dims)


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
        if part.dims != first.dims or same(part.config) != same(first.config):
            raise ValueError(f"part {i} has a different configuration from part 0: "
                             f"{same(part.config)} vs {same(first.config)}.")
        for dim in first.dims:
            if dim != "seed" and list(part.coords[dim]) != list(first.coords[dim]):
                raise ValueError(f"part {i} has different {dim} coordinates from part 0.")
    seeds = np.concatenate([np.asarray(p.coords["seed"]) for p in parts])
    if len(set(seeds.tolist())) != len(seeds):
        raise ValueError("the parts share seeds; shards must be disjoint.")
    order = np.argsort(seeds, kind="stable")
    error = np.concatenate([p.error for p in parts], axis=seed_axis)
    return SweepResult(error=np.take(error, order, axis=seed_axis),
                       coords={**first.coords, "seed": seeds[order]},
                       config=first.config, dims=first.dims)


def _jsonable(values):
    out = []
    for v in np.asarray(values).tolist():
        out.append("inf" if isinstance(v, float) and math.isinf(v) else v)
    return out


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
