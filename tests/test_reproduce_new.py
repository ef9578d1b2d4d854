"""The new reproduction targets (asymptotics, overflow-large-n) and their pieces, at tiny
sizes."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import data, embeddings, retrieval, theory
from memjax.reproduce import asymptotics, claims, overflow, references

X64 = jnp.result_type(float) == jnp.float64


def test_seed_split_is_the_exact_error_of_storing_the_seen_tokens():
    num_inputs, dims, sizes = 300, (4, 12), (3, 30, 3000)
    probs = data.zipf_probs(num_inputs, 1.5)
    key = jax.random.key(5)
    total, stored = overflow._seed_split(key, 2, probs, num_inputs=num_inputs, dims=dims,
                                         sizes=sizes)
    seed_key = jax.random.fold_in(key, 2)
    arrival = jax.random.exponential(jax.random.fold_in(seed_key, overflow._DATA),
                                     probs.shape, probs.dtype) / probs
    base = embeddings.draw_base(jax.random.fold_in(seed_key, overflow._EMBEDDINGS),
                                num_inputs + 5, max(dims))
    targets = data.mod_targets(num_inputs, 5)
    for j, d in enumerate(dims):
        inputs = embeddings.restrict(base[:num_inputs], d, "gaussian")
        outputs = embeddings.restrict(base[num_inputs:], d, "sphere")
        for i, t in enumerate(sizes):
            seen = (arrival <= t).astype(probs.dtype)
            want = retrieval.error(inputs, outputs, targets, seen, probs)
            # Same scores up to the order of the sums: only float rounding differs.
            assert float(total[i, j]) == pytest.approx(float(want), abs=1e-5)
            wrong = np.asarray(retrieval.predictions(inputs, outputs, targets, seen)) != (
                np.asarray(targets))
            held = np.asarray(seen) > 0
            mass = np.sum(np.asarray(probs) * held)  # 0 when nothing has arrived yet
            rate = np.sum(np.asarray(probs) * wrong * held) / mass if mass > 0 else 0.0
            assert float(stored[i, j]) == pytest.approx(rate, abs=1e-4)


def test_seen_predictor_aggregates_classes_exactly():
    # Once every token is seen, the two-representatives-per-class predictor is the
    # token-by-token predictor of q = 1 (tokens of one class share their error law).
    num_inputs, dim = 60, 10
    probs = np.asarray(data.zipf_probs(num_inputs, 2.0), np.float64)
    total, stored = overflow.predicted_seen_error(probs, (10**12,), (dim,))
    want = theory.predicted_error(np.ones(num_inputs), probs, np.arange(num_inputs) % 5,
                                  dim, 5)
    assert float(total[0, 0]) == pytest.approx(float(want), rel=1e-4 if X64 else 1e-3)
    # Everything stored: the stored tokens' error rate is the error.
    assert float(stored[0, 0]) == pytest.approx(float(total[0, 0]), rel=1e-5)
    # No data: nothing stored, W = 0 answers class 0 (SPEC §1).
    empty, _ = overflow.predicted_seen_error(probs, (0,), (dim,))
    assert float(empty[0, 0]) == pytest.approx(1 - probs[::5].sum(), rel=1e-4)


def test_infinite_unstored_mass_is_the_large_n_limit():
    tops = np.array([1, 10, 100])
    probs = np.arange(1, 10**6 + 1, dtype=np.float64) ** -2.0
    finite = references.unstored_mass(probs / probs.sum(), tops)
    # The tail beyond 10⁶ holds ≈ 1/(ζ(2)·10⁶) = 6e-7 of the mass.
    np.testing.assert_allclose(references.infinite_unstored_mass(2.0, tops), finite,
                               rtol=1e-4)


def test_accurate_window_is_the_longest_run_within_tolerance():
    dims = np.array([10, 20, 40, 80, 160, 320])
    ratio = np.array([1.09, 1.01, 1.02, 1.03, 1.2, 1.01])
    assert references.accurate_window(dims, ratio, np.ones(6)) == (20.0, 80.0)
    assert references.accurate_window(dims, 2 * np.ones(6), np.ones(6)) is None


def test_overflow_target_at_tiny_size(tmp_path, monkeypatch):
    monkeypatch.setitem(overflow.SIZES, "quick", (400, (8,), np.arange(0, 7), 3))
    rows, figures = overflow.overflow_large_n(tmp_path, key=jax.random.key(0), quick=True)
    assert len(rows) == 3 * len(overflow.ALPHAS)
    assert all(isinstance(r, claims.Check) for r in rows)
    assert (tmp_path / figures[0][1]).stat().st_size > 5_000
    saved = np.load(tmp_path / "overflow_large_n_alpha2.npz")
    assert saved["total"].shape == (3, 7, 1)
    assert np.all((saved["stored"] >= 0) & (saved["stored"] <= 1))


def test_asymptotics_target_at_tiny_size(tmp_path, monkeypatch):
    # N = 300 and an explicit part of 2^12 tokens before the aggregated tail give every
    # predictor call one padded shape (one compile).
    monkeypatch.setattr(theory, "EXPLICIT_LIMIT", 1 << 12)
    monkeypatch.setitem(asymptotics.SIZES, "quick", (
        (300,), (16, 32, 64), 2, (300, math.inf), ((1e4, 1e5),)))
    rows, figures = asymptotics.asymptotics(tmp_path, key=jax.random.key(0), quick=True)
    kinds = [r.kind for r in rows]
    # Per scheme: one slope per simulated N, then convergence along N and along d.
    assert kinds == ["slope", "convergence", "convergence"] * 2
    along_d = rows[2]
    assert along_d.converges and along_d.reference == pytest.approx(-0.25, abs=0.005)
    assert (tmp_path / figures[0][1]).stat().st_size > 5_000


def test_targets_in_worker_processes_give_the_same_report_and_files(tmp_path):
    # --jobs 2 runs each target in its own spawned process and staging folder; a
    # target's key depends on its name only, so rows and data are those of one process,
    # the files land in the output folder, and a rerun reuses them.
    import json

    import numpy as np

    from memjax.reproduce import cli

    names = ["train-schedules", "memory-matrices"]
    for jobs in (1, 2):
        cli.run(tmp_path / f"jobs{jobs}", names, quick=True, seeds=2, progress=False,
                jobs=jobs)
    one, two = tmp_path / "jobs1", tmp_path / "jobs2"
    assert (json.loads((one / "claims.json").read_text())["claims"]
            == json.loads((two / "claims.json").read_text())["claims"])
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in two.iterdir())
    assert not (two / ".staging").exists()
    with np.load(one / "train_schedules.npz") as a, np.load(two / "train_schedules.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    stamp = (two / "targets" / "train-schedules.json").stat().st_mtime_ns
    cli.run(two, names, quick=True, seeds=2, progress=False, jobs=2)  # all reused
    assert (two / "targets" / "train-schedules.json").stat().st_mtime_ns == stamp
