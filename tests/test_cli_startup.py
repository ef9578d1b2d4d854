"""Start-up: `import memjax`, `memjax --help` and `--version` do not import JAX; every
public name is reachable lazily; the parsers refuse abbreviations, show their choices and
examples, and report an unknown flag with the subcommand's own usage."""

import subprocess
import sys

import pytest

import memjax
from memjax import cli

OLD_ALL = ["Model", "Optimizer", "RunOutput", "StepSize", "SweepResult", "TrainConfig",
           "data", "embeddings", "error", "head_tail_error", "load", "margins", "memory",
           "merge", "mod_targets", "predictions", "random_targets", "retrieval", "schemes",
           "scores", "step_sizes", "sweep", "train_runs", "train_sweep", "zipf_probs"]


def test_import_help_and_version_do_not_import_jax():
    code = ("import sys, contextlib, io\n"
            "import memjax\n"
            "from memjax import cli\n"
            "for argv in (['--help'], ['sweep', '--help'], ['bench', '--help'], "
            "['--version']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "        try:\n"
            "            cli.main(argv)\n"
            "        except SystemExit as exit:\n"
            "            assert exit.code == 0, argv\n"
            "print(out.getvalue().strip(), 'jax' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["memjax", memjax.__version__, "False"], done.stderr
    module = subprocess.run([sys.executable, "-m", "memjax", "--version"],
                            capture_output=True, text=True, check=True)
    assert module.stdout.strip() == f"memjax {memjax.__version__}"


def test_every_public_name_is_reachable_and_listed():
    for name in OLD_ALL + ["theory", "fit", "plot", "reproduce", "grid", "train_grid"]:
        assert getattr(memjax, name) is not None and name in dir(memjax)
        assert name in memjax.__all__
    assert memjax.theory.__name__ == "memjax.theory"
    assert memjax.sweep is memjax.grid.sweep and memjax.load is memjax.results.load
    assert memjax.bench.__name__ == "memjax.bench"  # unlisted submodules too
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        memjax.nope


def test_choices_match_the_library():
    from memjax import _nested, embeddings, grid

    assert cli.ROUTES == _nested.ROUTES and cli.COUNTS == grid.COUNT_METHODS
    assert cli.CONVENTIONS == grid.CONVENTIONS
    assert cli.EMBEDDINGS == embeddings.KINDS and cli.TARGETS == grid.TARGET_KINDS
    sweep = cli.build_parser().subcommands["sweep"]
    shown = {a.dest: a.choices for a in sweep._actions if a.choices}
    assert shown == {"route": cli.ROUTES, "counts": cli.COUNTS, "targets": cli.TARGETS,
                     "conventions": cli.CONVENTIONS,
                     "input_embedding": cli.EMBEDDINGS, "output_embedding": cli.EMBEDDINGS}


@pytest.mark.parametrize("command", ["sweep", "merge", "reproduce", "bench"])
def test_every_subcommand_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([command, "--help"])
    assert exit.value.code == 0
    help_text = capsys.readouterr().out
    examples = help_text.split("\nexamples:\n")[1]
    assert f"\n  memjax {command} " in "\n" + examples


def test_abbreviations_and_unknown_flags_are_usage_errors_of_the_subcommand(capsys):
    for argv in (["sweep", "--num-seed", "4"], ["merge", "a.npz", "--out", "b",
                                                 "--bogus"]):
        with pytest.raises(SystemExit) as exit:
            cli.main(argv)
        assert exit.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"usage: memjax {argv[0]} ")
        unknown = " ".join(argv[1:2] if argv[0] == "sweep" else argv[-1:])
        assert f"memjax {argv[0]}: error: unrecognized arguments: {unknown}" in err
    with pytest.raises(SystemExit) as exit:
        cli.main(["sweep", "--route", "fast"])
    assert exit.value.code == 2
    assert "argument --route: invalid choice: 'fast' (choose from 'auto', 'tokens'" in \
        capsys.readouterr().err
