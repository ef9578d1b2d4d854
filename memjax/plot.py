"""Plots of sweep results: error vs d, error vs T, and (d, T) contours.

Every function takes `ax=None` (a new figure when None) and returns the Axes; none calls
`plt.show()` or changes global rcParams. Curves are seed means with a band of ± `band`
standard deviations over seeds (the paper uses ½), on log-log axes; a fitted slope or a
theory line can be added with `add_power_law`; `mean_band` draws any (seeds, x) array.
"""

from __future__ import annotations

import math

import numpy as np

from memjax.results import SweepResult


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 3.4), constrained_layout=True)
    return ax


def _label_samples(t) -> str:
    return "T = ∞" if math.isinf(t) else f"T = {int(t):,}"


def mean_band(x, errors, *, ax=None, label=None, band: float = 0.5, log: bool = True,
              **kwargs):
    """The seed mean of errors (seeds, len(x)) with a ± band·std band over seeds (NaN runs
    ignored). The band is clipped to the data's range over seeds (an error is never below
    the best seed's nor above the worst's), and on log axes to the smallest positive seed
    value; zero means are left out on log axes rather than drawn as a cliff. Returns the
    Axes."""
    ax = _axes(ax)
    errors = np.asarray(errors, float)
    mean, std = np.nanmean(errors, axis=0), np.nanstd(errors, axis=0)
    keep = (mean > 0) if log else np.isfinite(mean)
    x = np.asarray(x)
    kwargs.setdefault("marker", "o")
    kwargs.setdefault("markersize", 3)
    (line,) = ax.plot(x[keep], mean[keep], label=label, **kwargs)
    if band and errors.shape[0] > 1:
        low = np.maximum(mean - band * std, np.nanmin(errors, axis=0))
        high = np.minimum(mean + band * std, np.nanmax(errors, axis=0))
        if log:
            positive = np.where(errors > 0, errors, np.inf).min(axis=0)
            low = np.maximum(low, np.minimum(positive, mean))
        ax.fill_between(x[keep], low[keep], high[keep], color=line.get_color(), alpha=0.2,
                        linewidth=0)
    return ax


def error_vs_dim(result: SweepResult, *, ax=None, schemes=None, num_samples=None,
                 band: float = 0.5):
    """Error vs capacity d, one curve per (scheme, T), log-log with a band over seeds."""
    ax = _axes(ax)
    dims = result.coords["dim"]
    order = np.argsort(dims)
    names = [n for n in result.coords["scheme"] if schemes is None or n in schemes]
    sizes = [t for t in result.coords["num_samples"]
             if num_samples is None or t in num_samples]
    for s, name in enumerate(result.coords["scheme"]):
        if name not in names:
            continue
        for t, size in enumerate(result.coords["num_samples"]):
            if size not in sizes:
                continue
            parts = [name] * (len(names) > 1) + [_label_samples(size)] * (len(sizes) > 1)
            mean_band(dims[order], result.error[s, :, t][:, order], ax=ax, band=band,
                      label=", ".join(parts) or name)
    _finish(ax, "memory dimension $d$", result)
    return ax


def error_vs_samples(result: SweepResult, *, ax=None, schemes=None, dims=None,
                     band: float = 0.5):
    """Error vs sample size T (finite T only), one curve per (scheme, d), log-log."""
    ax = _axes(ax)
    sizes = np.asarray(result.coords["num_samples"], float)
    finite = np.nonzero(np.isfinite(sizes) & (sizes > 0))[0]
    finite = finite[np.argsort(sizes[finite])]
    names = [n for n in result.coords["scheme"] if schemes is None or n in schemes]
    shown = [d for d in result.coords["dim"] if dims is None or d in dims]
    for s, name in enumerate(result.coords["scheme"]):
        if name not in names:
            continue
        for i, dim in enumerate(result.coords["dim"]):
            if dim not in shown:
                continue
            parts = [name] * (len(names) > 1) + [f"d = {int(dim)}"] * (len(shown) > 1)
            mean_band(sizes[finite], result.error[s][:, finite, i], ax=ax, band=band,
                      label=", ".join(parts) or name)
    _finish(ax, "number of samples $T$", result)
    return ax


def error_contour(result: SweepResult, *, scheme=None, ax=None, levels=12):
    """Filled contour of the seed-mean error over (d, T) for one scheme (finite T)."""
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    s = 0 if scheme is None else list(result.coords["scheme"]).index(scheme)
    sizes = np.asarray(result.coords["num_samples"], float)
    keep = np.nonzero(np.isfinite(sizes) & (sizes > 0))[0]
    keep = keep[np.argsort(sizes[keep])]
    dims = np.asarray(result.coords["dim"])
    order = np.argsort(dims)
    mean = result.error[s].mean(axis=0)[keep][:, order]
    filled = ax.contourf(dims[order], sizes[keep], mean, levels=levels, cmap="viridis")
    plt.colorbar(filled, ax=ax, label="error")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memory dimension $d$")
    ax.set_ylabel("number of samples $T$")
    ax.set_title(result.coords["scheme"][s], fontsize="medium")
    return ax


def add_power_law(ax, x, slope, anchor, *, label=None, **kwargs):
    """Draws the dashed line y = anchor[1] · (x / anchor[0])^slope over x."""
    x = np.asarray(x, float)
    kwargs.setdefault("color", "black")
    kwargs.setdefault("linestyle", "--")
    kwargs.setdefault("linewidth", 1)
    ax.plot(x, anchor[1] * (x / anchor[0]) ** slope,
            label=label if label is not None else f"slope {slope:.3g}", **kwargs)
    ax.legend(fontsize="small", frameon=False)
    return ax


def _finish(ax, xlabel, result):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("generalization error")
    cfg = result.config
    ax.set_title(f"N = {cfg.get('num_inputs')}, M = {cfg.get('num_outputs')}, "
                 f"α = {cfg.get('zipf_exponent'):g}, {result.error.shape[1]} seeds",
                 fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small", frameon=False)


def memory_matrix(scores, targets, *, ax=None, title=None, vmin=None, vmax=None):
    """Heat map of softmax_y(score(x, y)) as an N × M image, tokens by frequency (rows);
    white dots mark the correct outputs f*(x). The colour scale spans the values shown
    unless vmin/vmax fix it (e.g. to share one scale between panels)."""
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    scores = np.asarray(scores, np.float64)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    image = ax.imshow(probs, aspect="auto", cmap="magma", interpolation="nearest",
                      vmin=probs.min() if vmin is None else vmin,
                      vmax=probs.max() if vmax is None else vmax)
    rows = np.arange(scores.shape[0])
    ax.scatter(np.asarray(targets), rows, s=12, c="white", marker="o", linewidths=0)
    plt.colorbar(image, ax=ax, label="softmax probability")
    ax.set_xlabel("output $y$")
    ax.set_ylabel("input $x$ (by frequency)")
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def stored_weights(weights: dict, *, probs=None, powers=(), ax=None):
    """q(x)/‖q‖ vs frequency rank, log-log, for each labelled weight vector, with p^ρ
    references (dashed) for the given powers."""
    ax = _axes(ax)
    rank = None
    for label, q in weights.items():
        q = np.asarray(q, np.float64)
        rank = np.arange(1, q.shape[-1] + 1)
        keep = q > 0
        ax.plot(rank[keep], (q / np.linalg.norm(q))[keep], marker="o", markersize=2,
                label=label)
    if probs is not None:
        probs = np.asarray(probs, np.float64)
        rank = np.arange(1, probs.shape[-1] + 1)
        for power in powers:
            ref = probs ** power
            ax.plot(rank, ref / np.linalg.norm(ref), "--", linewidth=1,
                    label=f"$p^{{{power:g}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("frequency rank of $x$")
    ax.set_ylabel(r"$q(x)/\|q\|$")
    ax.legend(fontsize="small", frameon=False)
    return ax


# Backends with no window: `show_or_save` saves instead (plt.show would discard the figure).
HEADLESS_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def show_or_save(name: str, folder=".", *, dpi: int = 110):
    """plt.show() on a display; headless, saves the open figures' current one as
    `<folder>/<name>.png` (or in $MEMJAX_FIGURES when set), closes them and returns the path."""
    import os
    import pathlib

    import matplotlib
    import matplotlib.pyplot as plt

    if matplotlib.get_backend().lower() not in HEADLESS_BACKENDS:
        plt.show()
        return None
    folder = pathlib.Path(os.environ.get("MEMJAX_FIGURES") or folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    plt.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close("all")
    print(f"saved {path}")
    return path
