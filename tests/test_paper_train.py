"""Tests of memjax.paper_train and memjax.paper_mechanisms: the reproduction targets'
contract, at quick size."""

from __future__ import annotations

import inspect

import jax
import pytest

from memjax import paper_mechanisms, paper_train
from memjax.report import Claim


def test_every_target_has_the_reproduce_signature():
    assert set(paper_train.DEFAULT_OFF) <= set(paper_train.TARGETS)
    for name, fn in {**paper_train.TARGETS, **paper_mechanisms.TARGETS}.items():
        params = inspect.signature(fn).parameters
        assert list(params)[0] == "out_dir", name
        for keyword in ("key", "quick", "seeds", "progress"):
            assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (name, keyword)
        assert (fn.__doc__ or "").strip(), name  # `memjax reproduce --list` shows it


@pytest.mark.parametrize("name", ["train-schedules"])  # grid targets: test_train_grid
def test_quick_targets_write_figures_data_and_claims(name, tmp_path):
    claims, figures = paper_mechanisms.TARGETS[name](tmp_path, key=jax.random.key(0),
                                                     quick=True, seeds=2, progress=False)
    assert claims and all(isinstance(c, Claim) for c in claims)
    assert all(c.agrees in (True, False, None) for c in claims)
    for caption, png in figures:
        assert caption and (tmp_path / png).exists()
        assert (tmp_path / png).with_suffix(".pdf").exists()
    assert list(tmp_path.glob("*.npz")) and list(tmp_path.glob("*.csv"))
    assert list(tmp_path.glob("*.json"))  # the results sidecar
