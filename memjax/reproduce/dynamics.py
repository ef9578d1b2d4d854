"""Reproduction target for the approximate per-token dynamics of SGD (SPEC §5.5).

The visit map q ← q + γ/(1 + e^q/m) of `memjax.dynamics`, the stored profile it implies
for Zipf counts against p^ρ, real SGD against the approximation fed with the same batches,
and the fitted ρ vs γ. Same target contract as `memjax.reproduce.training`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from memjax import _xla, data, dynamics, plot, retrieval, train
from memjax.models import Model
from memjax.reproduce import style
from memjax.reproduce.report import Claim, save_data, save_figure
from memjax.reproduce.training import TRIAL_SEEDS, _finish, _seeds, as_check
from memjax.results import SweepResult
from memjax.train import TrainConfig


def approximate_dynamics(out_dir, *, key, quick=False, seeds=None, progress=False):
    """§5.5: the visit map; the q it implies for Zipf counts against p, p^0.35, p^0.05;
    real SGD against the approximation driven by the same batches (N = 100, d = 10,
    B = 1000, γ = 1, 100 steps, W₀ = 0); the fitted ρ vs γ."""
    bar = tqdm(total=4, desc="§5.5 visit map, profiles, SGD, ρ(γ)", disable=not progress)
    n, m, alpha, batch, steps, dim = 100, 5, 2.0, 1000, 100, 10
    # 30 seeds at --quick size (not 3): the paired SGD-vs-W_q row needs them to resolve
    # its gap (0.14 with a seed sd of 0.19 at 10 seeds: 2.3 standard errors); this
    # target's runs cost little next to its compilation.
    num_seeds = seeds or (30 if quick else TRIAL_SEEDS)
    probs = data.zipf_probs(n, alpha)
    p = np.asarray(probs, float)
    ranks = np.arange(1, n + 1)
    unit = lambda v: np.asarray(v, float) / np.linalg.norm(np.asarray(v, float))
    fig, grid = style.figure(3, nrows=2, width=4.2, height=3.6)
    axes = grid.flatten()[:5]
    grid[1, 2].set_visible(False)
    # Each computation below is one jitted program: eagerly, every jax.numpy call and
    # every scan compiles on its own (about 80 small programs for this target).
    rates_shown = (0.1, 1.0, 10.0, 100.0)
    visits = _xla.jit(jax.vmap(lambda g: dynamics.after_visits(50, g, 10.0)))(
        jnp.asarray(rates_shown))
    for i, rate in enumerate(rates_shown):
        axes[0].plot(np.arange(1, 51), np.asarray(visits[i, 1:]),
                     label=rf"$\gamma = {rate:g}$", color=style.sequence(4)[i])
    _finish(axes[0], "visits", "visit map $q \\leftarrow q + \\gamma/(1 + e^q/m)$\n"
            "$m = 10$", ylabel="stored weight $q$")
    axes[0].set_yscale("log")
    bar.update()
    profile_rates = (0.01, 1.0, 100.0, 1000.0)
    profiles = _xla.jit(jax.vmap(lambda g: dynamics.batch_weights(probs, g, batch, steps,
                                                                  m - 1)))(
        jnp.asarray(profile_rates))
    for i, rate in enumerate(profile_rates):
        axes[1].plot(ranks, unit(profiles[i]), label=rf"$\gamma = {rate:g}$",
                     color=style.sequence(4)[i])
    for power, line in ((1.0, ":"), (0.35, "--"), (0.05, "-.")):
        axes[1].plot(ranks, unit(p ** power), color="k", linestyle=line, linewidth=1,
                     label=f"$p^{{{power:g}}}$")
    _finish(axes[1], "token rank", "expected counts $B\\,p(x)$ per step\n"
            + style.setting(N=n, alpha=alpha, B=batch) + f", {steps} steps",
            ylabel=r"$q(x)/\|q\|$")
    bar.update()

    # Real SGD against the approximation fed with the same batches: errors over the steps
    # (the approximation's q stored as W_q = Σ q(x) u_{f*(x)} e_xᵀ with the same draws, so
    # it pays the same interference) and the stored profiles at the end.
    config = TrainConfig(n, m, dim, batch, tuple(range(steps + 1)), record=True,
                         model=Model("matrix", init="zero"))
    seed_ids = np.arange(num_seeds, dtype=np.uint32)
    out = train.train_runs(key, config, 1.0, zipf_exponent=alpha, seeds=seed_ids.tolist())
    draws = train._draw_seeds(train.draw_spec(config), key, seed_ids,
                              data.zipf_alias_table(n, alpha))
    @_xla.jit
    def approximate(tokens, input_emb, output_emb, targets):
        counts = jax.vmap(lambda t: dynamics.batch_counts(t, n, batch))(tokens)
        path = jax.vmap(lambda c: dynamics.batch_weights(probs, 1.0, batch, steps, m - 1,
                                                         counts=c, trajectory=True))(counts)
        err = jax.vmap(lambda e, u, t, q: jnp.sum(retrieval.wrong_mass(e, u, t, q, probs),
                                                  axis=-1))(input_emb, output_emb, targets,
                                                            path)
        return path, err

    path, approx_err = approximate(draws.tokens, draws.input_emb, draws.output_emb,
                                   draws.targets)
    approx_err = np.asarray(approx_err)  # (seed, step)
    sgd_err = out.error[:, 0]
    x = np.arange(1, steps + 1)
    plot.mean_band(x, sgd_err[:, 1:], ax=axes[2], label="SGD", marker=None,
                   color=style.color(0))
    plot.mean_band(x, approx_err[:, 1:], ax=axes[2], label="approximation ($W_q$)",
                   marker=None, color=style.color(1), linestyle="--")
    setting = style.setting(N=n, M=m, alpha=alpha, seeds=num_seeds, d=dim, gamma=1)
    _finish(axes[2], "step", f"SGD vs the per-token map\n{setting}")
    bar.update()
    final = jax.tree.map(lambda a: a[:, 0, -1], out.params)
    real = np.asarray(_xla.jit(jax.vmap(dynamics.stored_weights))(
        final["E"], final["U"], final["W"], draws.targets))
    real_unit = np.stack([unit(r) for r in real])
    approx_unit = np.stack([unit(a) for a in np.asarray(path[:, -1])])
    plot.mean_band(ranks, real_unit, ax=axes[3], label="SGD: correct − mean other score",
                   log=False, color=style.color(0), marker=None)
    plot.mean_band(ranks, approx_unit, ax=axes[3], label="approximation $q$", log=False,
                   color=style.color(1), linestyle="--", marker=None)
    _finish(axes[3], "token rank", f"stored profile after {steps} steps\n{setting}",
            logy=False, ylabel=r"$q(x)/\|q\|$")
    cosine = float(np.mean(np.sum(real_unit * approx_unit, axis=1)))

    rates = np.logspace(-2, 3, 11 if quick else 26)
    powers = np.asarray(dynamics.power_vs_step_size(probs, rates, batch, steps, m - 1))
    axes[4].plot(rates, powers, marker="o", markersize=3, color=style.color(0),
                 label=r"fitted $\rho$ of $q \approx p^\rho$")
    for ref, line in ((0.35, "--"), (0.05, "-.")):
        axes[4].axhline(ref, color="k", linestyle=line, linewidth=1, label=rf"$\rho = {ref:g}$")
    _finish(axes[4], r"step size $\gamma$", "expected-count dynamics\n"
            + style.setting(N=n, alpha=alpha, B=batch) + f", {steps} steps", logy=False,
            ylabel=r"$\rho$")
    style.panel_letters(axes)
    bar.update()
    bar.close()
    result = SweepResult(np.stack([sgd_err, approx_err]),
                         {"source": ["sgd", "approximation"], "seed": np.arange(num_seeds),
                          "step": np.arange(steps + 1)},
                         {"num_inputs": n, "num_outputs": m, "dim": dim, "batch_size": batch,
                          "learning_rate": 1.0, "zipf_exponent": alpha, "init": "zero"},
                         dims=("source", "seed", "step"))
    save_data(result, out_dir, "train_dynamics")
    end_sgd, end_approx = sgd_err[:, -1].mean(), approx_err[:, -1].mean()
    gap = approx_err[:, -1] - sgd_err[:, -1]
    gap_se = gap.std(ddof=1) / np.sqrt(gap.size) if gap.size > 1 else np.inf
    claims = [
        as_check(Claim("5.5 approximate dynamics", "small steps store q ∝ p (ρ = 1)",
              "ρ → 1 as γ → 0", f"ρ = {powers[0]:.3f} at γ = {rates[0]:g}",
              agrees=bool(abs(powers[0] - 1) < 0.05)),
                   powers[0], 1.0),
        as_check(Claim("5.5 approximate dynamics", "larger steps flatten q (smaller ρ; the paper "
              "compares with p^0.35 and p^0.05)", "ρ decreases as γ grows",
              f"ρ = {powers[len(rates) // 2]:.2f} at γ = {rates[len(rates) // 2]:.3g}, "
              f"min {powers.min():.2f} at γ = {rates[np.argmin(powers)]:.3g}, "
              f"{powers[-1]:.2f} at γ = {rates[-1]:g}", f"γ ∈ [{rates[0]:g}, {rates[-1]:g}]",
              agrees=bool(np.all(np.diff(powers[rates <= 100]) < 0) and powers[-1] < 0.5),
              note="expected counts B·p(x) per step, B = 1000, 100 steps; agrees: strictly "
                   "decreasing up to γ = 100 and < 0.5 at the largest γ"),
                   powers[-1], 0.5),
        # The map is the dynamics of orthogonal embeddings (SPEC §4); at d = 10 ≪ N = 100
        # the memory W_q built from its q pays the interference in full, while SGD's
        # gradient also pushes against it. The paper draws the two curves and states no
        # criterion, so the row checks memjax's own claim: paired over seeds (same draws
        # and batches), SGD ends below W_q by more than 3 standard errors.
        as_check(Claim("5.5 approximate dynamics", "new: at d = 10 ≪ N = 100, real SGD ends "
              f"below the approximation's memory W_q (B = {batch}, γ = 1, {steps} steps)",
              "final error, paired over seeds: W_q − SGD > 3 standard errors",
              f"after {steps} steps: SGD {end_sgd:.3g}, approximation {end_approx:.3g} "
              f"(gap {gap.mean():.3g} ± {gap_se:.2g}); stored profiles' cosine {cosine:.2f}",
              agrees=bool(gap.mean() > 3 * gap_se),
              note="the map ignores interference (it is exact only for orthogonal "
                   "embeddings); SGD's gradient corrects part of it, so the approximation "
                   "over-predicts the error here"),
                   gap.mean(), 3 * gap_se, new=True),
    ]
    return claims, [("§5.5: visit map; q(x)/‖q‖ vs rank against p, p^0.35, p^0.05; real "
                     "SGD vs the approximation (error, stored profile); fitted ρ vs γ",
                     save_figure(fig, out_dir, "train_dynamics"))]

