"""`memjax reproduce`: the paper's experiments as named targets, their claims and the report.

One module per experiment family: `explicit` (the explicit memory schemes, §5.1–5.4),
`training` (the §5.6 optimizer grid and its slices), `mechanisms` (§5.7–5.9), `dynamics` (§5.5);
`report` writes report.md / report.html / claims.json, `style` is the one figure style,
`cli` the command line. `TARGETS` maps each target's name to a `Target`: where its
function lives (imported only when the target runs, so `--list` starts no JAX), a one-line
description, the paper experiment it reproduces (numbered as in SPEC §5, "new" when the paper has
none), whether it
runs by default, and its measured cost for the run's estimate.

Each target function is `fn(out_dir, *, key, quick, seeds, progress) -> (claims, figures)`.
"""

from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class Target:
    """One reproduction target.

    Attributes:
      module, function: where the target's function lives (in this package).
      description: one line, shown by `memjax reproduce --list`.
      figure: the paper experiment it reproduces (SPEC §5 numbering), or "new".
      default: run by `memjax reproduce` without `--only`.
      trials: its default seed counts (paper size, `--quick`).
      seconds, quick_seconds: measured wall time (compilation included) at paper and at
        `--quick` size on a 2-core CPU; the estimate printed before a run scales them
        with the seed count.
      memory_mib, quick_memory_mib: peak resident memory of a run that includes it.
    """

    module: str
    function: str
    description: str
    figure: str
    default: bool = True
    trials: tuple[int, int] = (10, 3)
    seconds: float = 30.0
    quick_seconds: float = 3.0
    memory_mib: float = 2400.0
    quick_memory_mib: float = 1300.0
    isolated: bool = True  # may run in its own process and staging folder (`--jobs`)

    def load(self):
        """The target's function (imports its module; a bare name is in this package)."""
        module = importlib.import_module(self.module if "." in self.module
                                         else f"memjax.reproduce.{self.module}")
        return getattr(module, self.function)


# Costs on the 2-core Intel Xeon of benchmarks/README.md, 2026-12-01 (third session, idle
# machine): seconds and quick seconds from a first run on a fresh install (empty
# compilation cache: what a new user pays; later runs are faster), one target at a time;
# the optimizer grid from its full run on the idle machine (fifth session: 3,261 s);
# peaks 2.0 GB (default) and 1.1 GB (--quick).
TARGETS: dict[str, Target] = {
    "thresholded-storage": Target(
        "explicit", "thresholded_storage", "empirical ρ = 0 with top P = ⌊d/12⌋ over "
        "(d, T); storing every seen token against (1 − 1/M) × the missing mass",
        "§5.1", trials=(100, 12), seconds=12.1, quick_seconds=8.5),
    "schemes-vs-dim": Target(
        "explicit", "schemes_vs_dim", "uniform, population ρ ∈ {½, 1, 2} and "
        "threshold ⌊d/8⌋ vs d at T = ∞, α ∈ {1.5, 2, 3}, with the finite-N predictor",
        "§5.2", trials=(100, 12), seconds=22.4, quick_seconds=7.0),
    "overflow": Target(
        "overflow", "overflow", "storing every seen token, N = 100, α = 0.5: the "
        "error plateaus at a level set by d", "§5.3", trials=(100, 12), seconds=5.0,
        quick_seconds=3.0),
    "memory-matrices": Target(
        "explicit", "memory_matrices", "softmax_y(u_yᵀ W e_x) for ρ = 0 vs ρ = 1 "
        "(N = d = 10, α = 1, T = 1000)", "§5.4", trials=(100, 12), seconds=1.3, quick_seconds=1.2),
    "overflow-large-n": Target(
        "overflow", "overflow_large_n", "overflow where the theory puts it: N = 10⁵, "
        "α ∈ {1.5, 2}, d ∈ {16, 64}, every seen token stored for T up to 10⁹ "
        "(Poissonized draws), total and stored-token errors against the predictor", "new",
        trials=(20, 3), seconds=10.4, quick_seconds=2.4),
    "asymptotics": Target(
        "asymptotics", "asymptotics", "capacity slopes at N = 10³–10⁵ and N = ∞ for "
        "α ∈ {1.5, 2} (population ρ ∈ {½, 1}, threshold ⌊d/8⌋) against finite-size "
        "references converging to each exponent along N and d (up to 10⁵)", "new",
        trials=(24, 3), seconds=32.0, quick_seconds=4.2),
    "asymptotics-full": Target(
        "asymptotics", "asymptotics_full", "the large form of asymptotics: N up to 10⁶ "
        "simulated, d ≤ 1024, 30 seeds", "new", default=False, trials=(30, 3),
        seconds=3600.0, quick_seconds=20.0, memory_mib=3000.0),
    "train-step-size": Target(
        "training", "step_size_effect", "error vs d for each SGD step size γ "
        "(B = 64, T = 10,240)", "§5.6", seconds=5.8, quick_seconds=2.4),
    "train-batch-size": Target(
        "training", "batch_size_effect", "batch sizes at a fixed budget T = 1,024 "
        "(SGD, γ = 10)", "§5.6", seconds=7.9, quick_seconds=2.5),
    "train-sgd-vs-adam": Target(
        "training", "sgd_vs_adam", "SGD vs Adam (β₁ = β₂ = 0), best γ per seed "
        "(B = 256, T = 10,240)", "§5.6", seconds=9.8, quick_seconds=1.5),
    "train-layer-norm": Target(
        "training", "layer_norm", "layer norm with SGD and Adam (γ = 1, B = 1,024, "
        "T = 10,240)", "§5.6", seconds=10.4, quick_seconds=3.0),
    "train-embeddings": Target(
        "training", "learned_embeddings", "learned vs fixed embeddings (SGD, γ = 1, "
        "B = 16, T = 10,240) against the floor (1 − 1/M) × missing mass",
        "§5.6", seconds=21.8, quick_seconds=2.1),
    "train-samples": Target(
        "training", "error_vs_samples", "error vs T for SGD/Adam × layer norm, best "
        "γ per seed (d = 100, B = 64)", "§5.6", seconds=12.4, quick_seconds=2.6),
    "optimizer-grid": Target(
        "training", "optimizer_grid", "the full 40,320-run optimizer grid "
        "(resumable; its projected time is printed first)", "§5.6",
        # the full run of 2026-12-01 on the idle machine with two worker processes (fifth
        # session: 3,261 s); memory: this process and its two workers (1.62 GB peak
        # each, 0.53 GB here)
        default=False, isolated=False, seconds=3260.0, quick_seconds=20.0,
        memory_mib=3800.0),
    "train-schedules": Target(
        "mechanisms", "schedules", "γ = 10, γ = 0.1 and γ = 10 decayed ×0.03 after "
        "100 steps (N = 10, d = 5, B = 1)", "§5.7", trials=(100, 3), seconds=2.9,
        quick_seconds=1.6),
    "train-adam-mechanism": Target(
        "mechanisms", "adam_mechanism", "population GD vs sign-GD vs normalised GD "
        "vs Adam β = 0 (N = d = 10): errors, gradient spread, memory snapshots",
        "§5.8", trials=(100, 3), seconds=3.6, quick_seconds=3.6),
    "train-embeddings-2d": Target(
        "mechanisms", "embeddings_2d", "learned embeddings in d = 2: error vs M, "
        "output directions with their sectors, inputs by class", "§5.9",
        seconds=29.5, quick_seconds=2.6),
    "train-dynamics": Target(
        "dynamics", "approximate_dynamics", "the per-token visit map, q vs p^ρ, "
        "real SGD against the approximation, fitted ρ vs γ", "§5.5",
        trials=(100, 30), seconds=5.5, quick_seconds=5.2),
}


def default_targets() -> list[str]:
    """The names `memjax reproduce` runs without `--only`, in report order."""
    return [name for name, target in TARGETS.items() if target.default]


def run(out_dir, names=None, **kwargs):
    """Runs targets and writes the report after each one (see `memjax.reproduce.cli.run`).

    Args:
      out_dir: the output folder.
      names: target names (default: `default_targets()`).
      **kwargs: key (int), quick, seeds, conventions, progress, overwrite, jobs (target
        processes at once; default 1).
    Returns:
      The path of report.md.
    """
    from memjax.reproduce import cli

    return cli.run(out_dir, names or default_targets(), **kwargs)
