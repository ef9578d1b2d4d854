"""Reproduction targets for memories learned by optimization: the §5.6 grid.

(§5.5 and §5.7–5.9 are in `memjax.reproduce.mechanisms`, which shares the helpers here.)

Each target is `fn(out_dir, *, key, quick, seeds, progress) -> (claims, figures)`, as in
`memjax.reproduce.explicit`: it trains, saves its figures (PNG and PDF) and data (npz + JSON via
`memjax.results`, and CSV) in `out_dir`, and returns report rows and (caption, PNG) pairs.
The §5.6 figures are slices of the optimizer grid (N = 100, M = 5, α = 2), each computed
on its own; 'optimizer-grid' runs the whole 40,320-run grid (resumable, off by default) and draws the same figures from it. `quick=True` shrinks every target to
a few seconds. A claim's `agrees` is decided by the rule stated in its note; where the
measurement does not show the paper's effect it says NO.
"""

from __future__ import annotations

import pathlib
import time

import jax
import numpy as np

from memjax import data, plot, theory, train_grid
from memjax.models import Model
from memjax.optimizers import Optimizer
from memjax.reproduce import cli, style
from memjax.reproduce.claims import comparison_check
from memjax.reproduce.report import Claim, new_figure, save_data, save_figure

PAPER = dict(num_inputs=100, num_outputs=5, zipf_exponent=2.0)
PAPER_DIMS = (10, 20, 50, 100, 200, 500, 1000)
QUICK_DIMS = (10, 100)
PAPER_RATES = (0.1, 1.0, 10.0, 100.0)
GRID_SEEDS, TRIAL_SEEDS, QUICK_SEEDS = 10, 100, 3
FULL_GRID = dict(dims=PAPER_DIMS, learning_rates=PAPER_RATES, batch_sizes=(16, 64, 256, 1024),
                 num_samples=(1024, 10240, 102400), layer_norms=(False, True),
                 optimizers=("sgd", "adam"), models=("matrix", "learnable", "exponential"))


# --- Figures and data --------------------------------------------------------------------

OPT_NAMES = {"sgd": "SGD", "adam": "Adam"}


def _finish(ax, xlabel, title, *, logy=True, ylabel="generalization error"):
    """Log axes (y optional), labels, the title and a legend, in the shared style."""
    style.finish(ax, xlabel, ylabel, logy=logy)
    ax.set_title(title)
    return ax


def _setting(err, **more) -> str:
    """The §5.6 setting line (N, M, α, the seed count of err's last axis, more)."""
    return style.setting(N=PAPER["num_inputs"], M=PAPER["num_outputs"],
                         alpha=PAPER["zipf_exponent"], seeds=np.shape(err)[-1], **more)


def _seeds(seeds, quick, full):
    return seeds or (QUICK_SEEDS if quick else full)


def _grid(key, *, quick, seeds, progress, **grid):
    """A slice of the §5.6 grid (paper N, M, α; seeds 0..S−1 share data across slices)."""
    grid.setdefault("dims", QUICK_DIMS if quick else PAPER_DIMS)
    return train_grid.train_sweep(key, num_seeds=_seeds(seeds, quick, GRID_SEEDS),
                                  progress=progress, **PAPER, **grid)


def as_check(claim, measured, reference, *, new=False):
    """A `Claim` (a comparison stated in words) as the claim rule's comparison `Check`:
    the two numbers compared (e.g. the fraction of d where an effect holds, and the
    fraction required), the verdict of the claim's rule, its words in the explanation.
    `new`: a claim of memjax's own, not the paper's (its figure column says "new")."""
    words = [f"measured: {claim.measured}", f"expected: {claim.predicted}",
             claim.fit_range, claim.note]
    return comparison_check(claim.experiment, claim.claim, float(measured),
                            float(reference), bool(claim.agrees),
                            explanation="; ".join(filter(None, words)),
                            figure="new" if new else "§" + claim.experiment.split()[0])


def _fraction(flags) -> str:
    flags = np.asarray(flags, bool)
    return f"{flags.sum()}/{flags.size}"


def _diverged_note(result) -> str:
    """The count of diverged runs, when the result is this slice only (not a full grid)."""
    if len(result.coords["model"]) * len(result.coords["optimizer"]) > 1:
        return ""
    bad = result.config.get("non_finite_runs", 0)
    return f"; {bad} run(s) diverged (non-finite parameters)" if bad else ""


# --- §5.6: slices of the optimizer grid ------------------------------------------------

def _curve_per_value(dims, err, labels, title):
    """Error vs d, one mean ± ½ std band per value of err's middle axis (dim, value,
    seed), coloured in order of the value; returns the figure and the seed means."""
    fig, axes = new_figure()
    for i, label in enumerate(labels):
        plot.mean_band(dims, err[:, i].T, ax=axes[0], label=label,
                       color=style.sequence(len(labels))[i])
    _finish(axes[0], "memory dimension $d$", title)
    return fig, np.nanmean(err, axis=-1)


def _plot_step_size(result, out_dir, stem, *, batch, samples):
    err = result.sel(model="matrix", optimizer="sgd", layer_norm=False, batch_size=batch,
                     num_samples=samples)  # (dim, γ, seed)
    dims, rates = result.coords["dim"], result.coords["learning_rate"]
    fig, mean = _curve_per_value(dims, err, [rf"$\gamma = {rate:g}$" for rate in rates],
                                 f"SGD, step sizes $\\gamma$\n"
                                 f"{_setting(err, B=batch, T=samples)}")  # mean: (dim, γ)
    monotone = np.all(np.diff(mean, axis=1) <= 0, axis=1)
    better = mean[:, -1] < mean[:, 0]
    claim = as_check(Claim("5.6 step size", f"larger SGD steps lower the error (B = {batch}, "
                  f"T = {samples:,}, matrix model)", "error decreases with γ at every d",
                  f"non-increasing in γ at {_fraction(monotone)} d; γ = {rates[-1]:g} below "
                  f"γ = {rates[0]:g} at {_fraction(better)} d",
                  f"d ∈ [{dims.min()}, {dims.max()}]", agrees=bool(better.mean() >= 0.75),
                  note="agrees: largest γ below smallest at ≥ 3/4 of d" + _diverged_note(
                      result)),
                   better.mean(), 0.75)
    return [claim], [(f"§5.6: error vs d for each step size (SGD, B = {batch}, "
                      f"T = {samples:,}; bands ±½ std over seeds)", save_figure(fig, out_dir, stem))]


def _plot_batch_size(result, out_dir, stem, *, rate, samples):
    err = result.sel(model="matrix", optimizer="sgd", layer_norm=False, learning_rate=rate,
                     num_samples=samples)  # (dim, B, seed)
    dims, batches = result.coords["dim"], result.coords["batch_size"]
    fig, mean = _curve_per_value(dims, err, [f"$B = {batch}$" for batch in batches],
                                 f"SGD, batch sizes $B$ at a fixed budget\n"
                                 f"{_setting(err, gamma=rate, T=samples)}")  # (dim, B)
    smaller = mean[:, 0] < mean[:, -1]
    claim = as_check(Claim("5.6 batch size", f"at a fixed budget T = {samples:,}, smaller batches "
                  f"(more steps) help (SGD, γ = {rate:g})",
                  f"error(B = {batches[0]}) < error(B = {batches[-1]})",
                  f"at {_fraction(smaller)} d; mean over d {mean[:, 0].mean():.3g} vs "
                  f"{mean[:, -1].mean():.3g}", f"d ∈ [{dims.min()}, {dims.max()}]",
                  agrees=bool(smaller.mean() >= 0.75), note="agrees: at ≥ 3/4 of d"),
                   smaller.mean(), 0.75)
    return [claim], [(f"§5.6: error vs d for each batch size at T = {samples:,} "
                      f"(SGD, γ = {rate:g})", save_figure(fig, out_dir, stem))]


def _best_rate(err, axis):
    """The error with the best step size per seed (min over the γ axis, NaN ignored)."""
    return np.nanmin(err, axis=axis)


def _plot_sgd_vs_adam(result, out_dir, stem, *, batch, samples):
    dims = result.coords["dim"]
    fig, axes = new_figure()
    best = {}
    for opt in ("sgd", "adam"):
        err = result.sel(model="matrix", optimizer=opt, layer_norm=False, batch_size=batch,
                         num_samples=samples)  # (dim, γ, seed)
        best[opt] = _best_rate(err, axis=1)  # (dim, seed)
        plot.mean_band(dims, best[opt].T, ax=axes[0], label=OPT_NAMES[opt],
                       color=style.OPTIMIZER_COLORS[OPT_NAMES[opt]])
    _finish(axes[0], "memory dimension $d$", "best $\\gamma$ per seed\n"
            + _setting(best["sgd"], B=batch, T=samples))
    sgd, adam = best["sgd"].mean(axis=1), best["adam"].mean(axis=1)
    wins = adam <= sgd
    large = dims >= 100
    claim = as_check(Claim("5.6 SGD vs Adam", "Adam (β₁ = β₂ = 0) stores rare tokens better than SGD, "
                  f"best γ per seed (B = {batch}, T = {samples:,})", "Adam ≤ SGD",
                  f"Adam ≤ SGD at {_fraction(wins)} d ({_fraction(wins[large])} of d ≥ 100); "
                  f"at d = {dims[-1]}: {adam[-1]:.3g} vs {sgd[-1]:.3g}",
                  f"d ∈ [{dims.min()}, {dims.max()}]",
                  agrees=bool(wins[large].mean() >= 0.75 if large.any() else wins.mean()
                              >= 0.75), note="agrees: at ≥ 3/4 of d ≥ 100"),
                   wins[large].mean() if large.any() else wins.mean(), 0.75)
    return [claim], [(f"§5.6: SGD vs Adam with the best step size per seed (B = {batch}, "
                      f"T = {samples:,})", save_figure(fig, out_dir, stem))]


def _plot_layer_norm(result, out_dir, stem, *, rate, batch, samples):
    dims = result.coords["dim"]
    fig, axes = new_figure()
    mean = {}
    for opt in ("sgd", "adam"):
        for norm in (False, True):
            err = result.sel(model="matrix", optimizer=opt, layer_norm=norm,
                             learning_rate=rate, batch_size=batch, num_samples=samples)
            mean[opt, norm] = np.nanmean(err, axis=-1)
            plot.mean_band(dims, err.T, ax=axes[0], linestyle=style.linestyle(1 - norm),
                           color=style.OPTIMIZER_COLORS[OPT_NAMES[opt]],
                           label=OPT_NAMES[opt] + (" + LN" if norm else ""))
    _finish(axes[0], "memory dimension $d$", "layer norm (solid) or none (dashed)\n"
            + _setting(err, gamma=rate, B=batch, T=samples))
    helps = mean["adam", True] <= mean["adam", False]
    claim = as_check(Claim("5.6 layer norm", f"layer norm helps Adam (γ = {rate:g}, B = {batch}, "
                  f"T = {samples:,})", "Adam + LN ≤ Adam",
                  f"at {_fraction(helps)} d; at d = {dims[-1]}: "
                  f"{mean['adam', True][-1]:.3g} vs {mean['adam', False][-1]:.3g} "
                  f"(SGD: {mean['sgd', True][-1]:.3g} vs {mean['sgd', False][-1]:.3g})",
                  f"d ∈ [{dims.min()}, {dims.max()}]", agrees=bool(helps.mean() >= 0.75),
                  note="agrees: at ≥ 3/4 of d"),
                   helps.mean(), 0.75)
    return [claim], [(f"§5.6: layer norm (solid) vs none (dashed), γ = {rate:g}, "
                      f"B = {batch}, T = {samples:,}", save_figure(fig, out_dir, stem))]


MODEL_LABELS = {"matrix": "fixed $E, U$ (matrix $W$)", "learnable": "learned $E, U, W$",
                "exponential": "learned $E, U$ (ReLU)"}


def _plot_embeddings(result, out_dir, stem, *, rate, batch, samples):
    dims = result.coords["dim"]
    fig, axes = new_figure()
    mean = {}
    for i, kind in enumerate(result.coords["model"]):
        err = result.sel(model=kind, optimizer="sgd", layer_norm=False, learning_rate=rate,
                         batch_size=batch, num_samples=samples)  # (dim, seed)
        mean[kind] = np.nanmean(err, axis=-1)
        plot.mean_band(dims, err.T, ax=axes[0], label=MODEL_LABELS[kind],
                       color=style.color(i))
    probs = np.asarray(data.zipf_probs(PAPER["num_inputs"], PAPER["zipf_exponent"]))
    m = PAPER["num_outputs"]
    # An unseen token is still guessed right 1/M of the time: the floor of a memory that
    # recalls every seen token is (1 − 1/M) × the missing mass, not the missing mass.
    floor = (1 - 1 / m) * float(theory.missing_mass(probs, samples))
    axes[0].axhline(floor, color="k", linestyle=":", linewidth=1.2,
                    label=r"expected floor $(1 - 1/M)\,\sum_x p(x)(1-p(x))^T$")
    _finish(axes[0], "memory dimension $d$", "learned vs fixed embeddings (SGD)\n"
            + _setting(err, gamma=rate, B=batch, T=samples))
    axes[0].set_ylim(bottom=floor / 2)  # room for the legend under the curves
    axes[0].legend(loc="lower left")
    learned = np.minimum(mean.get("learnable", np.inf), mean.get("exponential", np.inf))
    below = learned <= mean["matrix"]
    claim = as_check(Claim("5.6 learned embeddings", "learning the embeddings removes the capacity "
                  f"limit (SGD, γ = {rate:g}, B = {batch}, T = {samples:,})",
                  "learned ≤ fixed, near the floor (1 − 1/M) × missing mass at every d",
                  f"learned ≤ fixed at {_fraction(below)} d; best learned at d = {dims[0]}: "
                  f"{learned[0]:.3g} (fixed {mean['matrix'][0]:.3g}); floor {floor:.3g}",
                  f"d ∈ [{dims.min()}, {dims.max()}]", agrees=bool(below.mean() >= 0.75),
                  note="agrees: best learned model ≤ fixed at ≥ 3/4 of d; the floor is the "
                       "expected error of recalling every seen token (an unseen one is "
                       "right 1/M of the time)"),
                   below.mean(), 0.75)
    return [claim], [(f"§5.6: learned vs fixed embeddings (SGD, γ = {rate:g}, B = {batch}, "
                      f"T = {samples:,}); dotted: (1 − 1/M) × the expected unseen mass",
                      save_figure(fig, out_dir, stem))]


def _plot_samples(result, out_dir, stem, *, dim, batch):
    sizes = result.coords["num_samples"]
    fig, axes = new_figure()
    final = {}
    for opt in ("sgd", "adam"):
        for norm in (False, True):
            err = result.sel(model="matrix", optimizer=opt, layer_norm=norm, dim=dim,
                             batch_size=batch)  # (γ, seed, T)
            best = _best_rate(err, axis=0)  # (seed, T)
            name = OPT_NAMES[opt] + (" + LN" if norm else "")
            final[name] = np.nanmean(best, axis=0)
            plot.mean_band(sizes, best, ax=axes[0], label=name,
                           color=style.OPTIMIZER_COLORS[OPT_NAMES[opt]],
                           linestyle=style.linestyle(1 - norm))
    _finish(axes[0], "number of samples $T$", "best $\\gamma$ per seed\n" + style.setting(
        N=PAPER["num_inputs"], M=PAPER["num_outputs"], alpha=PAPER["zipf_exponent"],
        seeds=best.shape[0], d=dim, B=batch))
    # The figure's claim is that every pair improves with T (monotone over the T grid).
    # Which pair ends lowest is shown, not judged: the paper's "layer norm helps Adam" is
    # stated at γ = 1, B = 1024 (the train-layer-norm row), not for the best γ per seed.
    decreasing = {k: bool(np.all(np.diff(v) < 0)) for k, v in final.items()}
    winner = min(final, key=lambda k: final[k][-1])
    claim = as_check(Claim("5.6 error vs T", f"every optimizer/LN pair improves with T "
                  f"(d = {dim}, B = {batch}, best γ per seed)",
                  "error decreasing along the T grid for all 4 pairs",
                  "; ".join(f"{k}: {' → '.join(f'{x:.3g}' for x in v)}"
                            for k, v in final.items()),
                  f"T ∈ [{sizes.min():,}, {sizes.max():,}]",
                  agrees=all(decreasing.values()),
                  note=f"{sum(decreasing.values())} of 4 pairs decrease; not judged (the "
                       f"paper states no order here): lowest at the largest T is {winner}; "
                       f"Adam + LN {final['Adam + LN'][-1]:.3g} vs Adam "
                       f"{final['Adam'][-1]:.3g} (layer norm helping Adam is checked at "
                       "γ = 1, B = 1024 in train-layer-norm)"),
                     sum(decreasing.values()), len(decreasing))
    return [claim], [(f"§5.6: error vs T for the four optimizer/LN pairs (d = {dim}, "
                      f"B = {batch}, best γ per seed)", save_figure(fig, out_dir, stem))]


def step_size_effect(out_dir, *, key, quick=False, seeds=None, progress=False):
    """§5.6 (a): error vs d for each SGD step size (B = 64, T = 10,240)."""
    samples = 1024 if quick else 10240
    result = _grid(key, quick=quick, seeds=seeds, progress=progress, batch_sizes=(64,),
                   num_samples=(samples,), learning_rates=PAPER_RATES)
    save_data(result, out_dir, "train_step_size")
    return _plot_step_size(result, out_dir, "train_step_size", batch=64, samples=samples)


def batch_size_effect(out_dir, *, key, quick=False, seeds=None, progress=False):
    """§5.6: batch sizes at a fixed budget T = 1,024 (SGD, γ = 10)."""
    result = _grid(key, quick=quick, seeds=seeds, progress=progress, learning_rates=(10.0,),
                   batch_sizes=(16, 64, 256, 1024), num_samples=(1024,))
    save_data(result, out_dir, "train_batch_size")
    return _plot_batch_size(result, out_dir, "train_batch_size", rate=10.0, samples=1024)


def sgd_vs_adam(out_dir, *, key, quick=False, seeds=None, progress=False):
    """§5.6: SGD vs Adam with the best step size per seed (B = 256, T = 10,240)."""
    samples = 1024 if quick else 10240
    result = _grid(key, quick=quick, seeds=seeds, progress=progress, batch_sizes=(256,),
                   num_samples=(samples,), learning_rates=PAPER_RATES,
                   optimizers=("sgd", "adam"))
    save_data(result, out_dir, "train_sgd_vs_adam")
    return _plot_sgd_vs_adam(result, out_dir, "train_sgd_vs_adam", batch=256,
                             samples=samples)


def layer_norm(out_dir, *, key, quick=False, seeds=None, progress=False):
    """§5.6: layer norm with SGD and Adam (γ = 1, B = 1,024, T = 10,240)."""
    samples = 2048 if quick else 10240
    result = _grid(key, quick=quick, seeds=seeds, progress=progress, batch_sizes=(1024,),
                   num_samples=(samples,), learning_rates=(1.0,), optimizers=("sgd", "adam"),
                   layer_norms=(False, True))
    save_data(result, out_dir, "train_layer_norm")
    return _plot_layer_norm(result, out_dir, "train_layer_norm", rate=1.0, batch=1024,
                            samples=samples)


def learned_embeddings(out_dir, *, key, quick=False, seeds=None, progress=False):
    """§5.6: learned vs fixed embeddings (SGD, γ = 1, B = 16, T = 10,240)."""
    samples = 1024 if quick else 10240
    result = _grid(key, quick=quick, seeds=seeds, progress=progress, batch_sizes=(16,),
                   num_samples=(samples,), learning_rates=(1.0,),
                   models=("matrix", "learnable", "exponential"))
    save_data(result, out_dir, "train_embeddings")
    return _plot_embeddings(result, out_dir, "train_embeddings", rate=1.0, batch=16,
                            samples=samples)


def error_vs_samples(out_dir, *, key, quick=False, seeds=None, progress=False):
    """§5.6: error vs T for SGD/Adam × LN, best γ per seed (d = 100, B = 64)."""
    sizes = (1024, 10240) if quick else (1024, 10240, 102400)
    dim = 50 if quick else 100
    result = _grid(key, quick=quick, seeds=seeds, progress=progress, dims=(dim,),
                   batch_sizes=(64,), num_samples=sizes, learning_rates=PAPER_RATES,
                   optimizers=("sgd", "adam"), layer_norms=(False, True))
    save_data(result, out_dir, "train_samples")
    return _plot_samples(result, out_dir, "train_samples", dim=dim, batch=64)


def optimizer_grid(out_dir, *, key, quick=False, seeds=None, progress=False, jobs=None):
    """The full §5.6 grid (40,320 runs with 10 seeds), resumable, projected time first;
    its blocks in `jobs` worker processes (default: `memjax reproduce`'s default, 2 on a
    CPU with 2 cores or more, else 1)."""
    grid = dict(FULL_GRID)
    if quick:  # every figure's slice, at one small d: 32 blocks
        grid.update(dims=(10,), num_samples=(1024, 2048), models=("matrix", "learnable"))
    num_seeds = _seeds(seeds, quick, GRID_SEEDS)
    runs = (len(grid["models"]) * len(grid["optimizers"]) * len(grid["layer_norms"])
            * len(grid["dims"]) * len(grid["batch_sizes"]) * len(grid["learning_rates"])
            * num_seeds * len(grid["num_samples"]))
    blocks = train_grid.sweep_blocks(
        num_inputs=PAPER["num_inputs"], num_outputs=PAPER["num_outputs"],
        dims=grid["dims"], batch_sizes=grid["batch_sizes"], num_samples=grid["num_samples"],
        models_=tuple(Model(m) for m in grid["models"]),
        optimizers_=tuple(Optimizer(o) for o in grid["optimizers"]),
        layer_norms=grid["layer_norms"])
    workers = cli.default_jobs() if jobs is None else jobs
    workers = workers if jax.default_backend() == "cpu" else 1  # one process per device
    rates = train_grid.calibrate(key, quick=quick)
    seconds = train_grid.projected_seconds(blocks, num_seeds * len(grid["learning_rates"]),
                                           rates, workers)
    print(f"optimizer grid: {runs:,} runs in {len(blocks)} compiled blocks, {workers} "
          f"worker process{'es' if workers > 1 else ''}; projected {seconds / 60:.0f} min "
          f"on this machine (finished blocks under {out_dir}/optimizer_grid.blocks are "
          "skipped)", flush=True)
    start = time.perf_counter()
    result = train_grid.train_sweep(key, num_seeds=num_seeds, progress=progress,
                                    out=pathlib.Path(out_dir) / "optimizer_grid",
                                    workers=workers, **PAPER, **grid)
    elapsed = time.perf_counter() - start
    result.to_csv(pathlib.Path(out_dir) / "optimizer_grid.csv")
    small, mid = sorted(grid["num_samples"])[:2]
    claims, figures = [Claim("5.6 optimizer grid", f"{runs:,} runs (paper: 40,320)",
                             "projected time", f"{seconds / 60:.1f} min projected, "
                             f"{elapsed / 60:.1f} min taken with {workers} worker "
                             "process(es) (resumed blocks excluded)",
                             agrees=None, note=f"{result.config['non_finite_runs']} of "
                             f"{result.error.size:,} (run, T) points diverged (non-finite "
                             "parameters): NaN in the data with `finite` False; the "
                             "figures' means and best-γ minima leave them out")], []
    for draw, kwargs in ((_plot_step_size, dict(batch=64, samples=mid)),
                         (_plot_batch_size, dict(rate=10.0, samples=small)),
                         (_plot_sgd_vs_adam, dict(batch=256, samples=mid)),
                         (_plot_layer_norm, dict(rate=1.0, batch=1024, samples=mid)),
                         (_plot_embeddings, dict(rate=1.0, batch=16, samples=mid)),
                         (_plot_samples, dict(dim=100 if 100 in grid["dims"] else
                                              grid["dims"][-1], batch=64))):
        rows, figs = draw(result, out_dir, "grid" + draw.__name__[5:], **kwargs)
        claims += rows
        figures += figs
    return claims, figures

