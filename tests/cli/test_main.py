"""The command line: exit codes, messages, and start-up cost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mmzoo.cli.main import EXIT_INTERNAL, EXIT_OK, EXIT_USER, main

from ..conftest import RECIPES


def run_cli(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmzoo", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_help_is_instant_and_does_not_import_torch():
    code = "import sys; from mmzoo.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\nassert 'torch' not in sys.modules, 'torch imported'\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "fit" in result.stdout and "plugins" in result.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("mmzoo 0.1.0")


def test_no_command_prints_help(capsys):
    assert main([]) == EXIT_USER
    assert "usage: mmzoo" in capsys.readouterr().out


def test_unknown_command_is_a_user_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["trian", "x.yaml"])
    assert info.value.code == EXIT_USER


def test_recipe_check_ok(capsys, tiny_recipe):
    assert main(["recipe", "check", str(tiny_recipe)]) == EXIT_OK
    assert ": OK (2 encoder(s)" in capsys.readouterr().out


def test_recipe_show_applies_overrides(capsys, tiny_recipe):
    assert main(["recipe", "show", str(tiny_recipe), "model.fusion.dim=24"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "dim: 24" in out and "checkpoint:" in out  # defaults are spelt out


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["model.fusion.name=concta"], "did you mean 'concat'"),
        (["model.encoders.audio.dim=wide"], "expected int >= 1, got the string 'wide'"),
        (["trainer.nope.x=1"], "key 'trainer.nope' does not exist"),
    ],
)
def test_recipe_errors_exit_2_without_traceback(capsys, tiny_recipe, overrides, fragment):
    assert main(["recipe", "check", str(tiny_recipe), *overrides]) == EXIT_USER
    err = capsys.readouterr().err
    assert err.startswith("error: recipe") and fragment in err
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["first", "after the command", "last"])
def test_debug_shows_the_traceback_wherever_it_is(capsys, tiny_recipe, where):
    words = ["recipe", "check", str(tiny_recipe), "model.fusion.name=concta"]
    at = {"first": 0, "after the command": 1, "last": len(words)}[where]
    assert main([*words[:at], "--debug", *words[at:]]) == EXIT_USER
    assert "Traceback" in capsys.readouterr().err


def test_without_debug_there_is_no_traceback(capsys, tiny_recipe):
    assert main(["recipe", "check", str(tiny_recipe), "model.fusion.name=concta"]) == EXIT_USER
    assert "Traceback" not in capsys.readouterr().err


def test_plugins_list_and_show(capsys):
    assert main(["plugins", "--kind", "encoder"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "conv1d" in out and "mmzoo-encoders" in out and "concat" not in out
    assert main(["plugins", "show", "conv1d"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "kernel_size" in out and "input_spec" in out  # options, and what mmzoo provides


@pytest.mark.parametrize("args", [["plugins", "--kind", "encodr"], ["plugins", "show", "conv2d"], ["plugins", "show"]])
def test_plugins_user_errors(capsys, args):
    assert main(args) == EXIT_USER
    assert capsys.readouterr().err.startswith("error:")


def test_internal_errors_exit_1(capsys, monkeypatch, tiny_recipe):
    import mmzoo.run

    def broken(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(mmzoo.run, "run_recipe", broken)
    assert main(["fit", str(tiny_recipe)]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: oops" in err and "Traceback" not in err
    assert main(["fit", str(tiny_recipe), "--debug"]) == EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_build_error_names_the_component_and_writes_nothing(capsys, tiny_recipe, tmp_path):
    assert main(["fit", str(tiny_recipe), "model.encoders.audio.kernel_size=4"]) == EXIT_USER
    err = capsys.readouterr().err
    assert "model.encoders.audio: building encoder 'conv1d'" in err and "kernel_size must be odd" in err
    assert not (tmp_path / "runs").exists()


def test_missing_recipe_file(capsys):
    assert main(["fit", "does/not/exist.yaml"]) == EXIT_USER
    assert "recipe file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_fit_with_debug(tiny_recipe, tmp_path):
    """The command a new user types, through the real console entry point."""
    result = run_cli("fit", str(tiny_recipe), "trainer.max_epochs=1", "--debug", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val/label/accuracy" in result.stdout
    assert len(list((tmp_path / "runs" / "tiny").glob("*-fit"))) == 1


def test_shipped_quickstart_checks_quickly():
    result = run_cli("recipe", "check", str(RECIPES / "quickstart.yaml"))
    assert result.returncode == 0, result.stderr


def test_errors_raised_in_dataloader_workers_are_shown_without_the_worker_traceback():
    from mmzoo.cli.main import _without_worker_traceback

    wrapped = (
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n    raise DataError(...)\n'
        "mmzoo.errors.DataError: data/train.jsonl:3: field 'audio' (audio): cannot decode audio\n  hint: fix the row"
    )
    assert _without_worker_traceback(wrapped) == (
        "data/train.jsonl:3: field 'audio' (audio): cannot decode audio\n  hint: fix the row"
    )
    assert _without_worker_traceback("plain message") == "plain message"


def test_common_encoder_option_the_encoder_cannot_honour(capsys, tiny_recipe, tmp_path):
    assert main(["fit", str(tiny_recipe), "model.encoders.text.train_last=1"]) == EXIT_USER
    err = capsys.readouterr().err
    assert "model.encoders.text: train_last: BagEncoder does not list its blocks" in err
    assert not (tmp_path / "runs").exists()


def _registry_with(monkeypatch, hook_name: str, hook) -> None:
    """Make the plugins commands see the installed components plus one in-test plugin named 'probe'."""
    import types

    import mmzoo
    import mmzoo.cli.plugins as plugins_cli
    from mmzoo.plugins import load_registry
    from mmzoo.recipe.callables import CallableSchemas
    from mmzoo.registry_cache import Schemas

    plugin = types.SimpleNamespace(**{hook_name: mmzoo.hookimpl(hook)})
    registry = load_registry(extra_plugins=[("probe", plugin)], warn=False)
    monkeypatch.setattr(plugins_cli, "load_schemas", lambda: Schemas(registry, CallableSchemas(registry)))


def _film(input_dims: dict, gamma: float = 2.0) -> None:
    """A probe fusion."""


def test_plugins_show_prints_docs_and_paper(capsys, monkeypatch):
    _registry_with(
        monkeypatch,
        "mmzoo_register_fusions",
        lambda registrar: registrar.add("probe_film", _film, docs_url="https://example.org/film", paper="Perez et al., FiLM, 2018"),
    )
    assert main(["plugins", "show", "probe_film"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "docs: https://example.org/film" in out and "paper: Perez et al., FiLM, 2018" in out


def test_a_component_that_was_not_registered_says_why(capsys, monkeypatch):
    def untyped(input_dims: dict, gamma=2.0) -> None:
        """No annotation on gamma."""

    _registry_with(monkeypatch, "mmzoo_register_fusions", lambda registrar: registrar.add("probe_film", untyped))
    assert main(["plugins", "show", "probe_film"]) == EXIT_USER
    err = capsys.readouterr().err
    assert "fusion 'probe_film' was not registered: plugin 'probe'" in err
    assert "option 'gamma' has no type annotation" in err and "test_main.py:" in err
    assert main(["plugins", "--kind", "fusion"]) == EXIT_OK
    assert "fusion 'probe_film' was not registered" in capsys.readouterr().out


def test_plugins_show_names_a_disabled_plugin(capsys, monkeypatch):
    monkeypatch.setenv("MMZOO_DISABLE_PLUGINS", "mmzoo-fusions")
    assert main(["plugins", "show", "gated"]) == EXIT_USER
    assert "'mmzoo-fusions' (disabled by MMZOO_DISABLE_PLUGINS)" in capsys.readouterr().err
