"""Tests of memjax.reproduce's training and mechanism targets: the target contract, at
quick size."""

from __future__ import annotations

import inspect

import jax
import pytest

from memjax.reproduce import TARGETS
from memjax.reproduce.claims import Check


def test_every_target_has_the_reproduce_signature():
    assert not TARGETS["optimizer-grid"].default
    for name, target in TARGETS.items():
        fn = target.load()
        params = inspect.signature(fn).parameters
        assert list(params)[0] == "out_dir", name
        for keyword in ("key", "quick", "seeds", "progress"):
            assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (name, keyword)
        assert target.description and target.figure, name  # `--list` shows them


@pytest.mark.parametrize("name", ["train-schedules"])  # grid targets: test_train_grid
def test_quick_targets_write_figures_data_and_claims(name, tmp_path):
    claims, figures = TARGETS[name].load()(tmp_path, key=jax.random.key(0),
                                                     quick=True, seeds=2, progress=False)
    assert claims and all(isinstance(c, Check) for c in claims)
    for row in (c.to_dict() for c in claims):  # the two numbers compared, as numbers
        assert row["verdict"] in ("agrees", "disagrees") and row["figure"] == "§5.7"
        assert isinstance(row["measured"], float) and isinstance(row["reference"], float)
    for caption, png in figures:
        assert caption and (tmp_path / png).exists()
        assert (tmp_path / png).with_suffix(".pdf").exists()
    assert list(tmp_path.glob("*.npz")) and list(tmp_path.glob("*.csv"))
    assert list(tmp_path.glob("*.json"))  # the results sidecar
