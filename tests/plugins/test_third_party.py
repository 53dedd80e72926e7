"""Third-party plugins, installed and discovered the way users get them: through entry points.

Three distributions are installed with pip, each into its own ``--target`` directory, once per
session: the template plugin (``plugins/mmzoo-plugin-template``), a plugin whose module raises
``ImportError`` at import, and a plugin that registers an encoder named like a built-in one. The
``mmzoo`` command then runs in subprocesses with one of those directories on ``PYTHONPATH``; the
subprocesses start together, since each spends seconds importing torch and Lightning.

The in-process tests at the end use ``load_registry(extra_plugins=...)`` for the failure modes that
need no installed distribution.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import mmzoo
from mmzoo.contracts import ModalitySpec
from mmzoo.errors import UnknownComponentError
from mmzoo.plugins import DISABLE_ENV, PluginWarning, load_registry
from mmzoo.registry import Registrar

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "plugins" / "mmzoo-plugin-template"

#: What the generated broken plugin raises when imported.
BROKEN_MESSAGE = "mmzoo_broken_plugin needs the backend 'warp_drive', which is not installed"


@dataclass(frozen=True)
class Command:
    """A command to run in a subprocess: arguments and extra environment variables."""

    args: list[str]
    env: Mapping[str, str]


@dataclass(frozen=True)
class Result:
    """How a :class:`Command` ended."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        """The command and everything it printed, for assertion messages."""
        return (
            f"$ {' '.join(self.args)}\nexit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


def _run_together(commands: Mapping[str, Command], timeout: float = 180.0) -> dict[str, Result]:
    """Start every command at once (from the repository root) and wait for all of them.

    Output goes to temporary files rather than pipes, so no process can block on a full pipe while
    another is being waited for.
    """
    base = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="mmzoo-runs-") as scratch:
        started = {}
        for key, command in commands.items():
            out = open(Path(scratch, f"{key}.out"), "w+", encoding="utf-8")  # noqa: SIM115 - closed below
            err = open(Path(scratch, f"{key}.err"), "w+", encoding="utf-8")  # noqa: SIM115
            process = subprocess.Popen(
                command.args, cwd=REPO, env={**base, **command.env}, stdout=out, stderr=err, text=True
            )
            started[key] = (process, out, err, time.perf_counter())
        for key, (process, out, err, began) in started.items():
            try:
                returncode = process.wait(timeout=max(1.0, timeout - (time.perf_counter() - began)))
            except subprocess.TimeoutExpired:
                process.kill()
                returncode = process.wait()
            seconds = time.perf_counter() - began
            out.seek(0)
            err.seek(0)
            results[key] = Result(commands[key].args, returncode, out.read(), err.read(), seconds)
            out.close()
            err.close()
    return results


def _pip_install(source: Path, target: Path) -> Command:
    args = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index"]
    args += ["--disable-pip-version-check", "--quiet", "--target", str(target), str(source)]
    return Command(args, {})


def _mmzoo(target: Path, *args: str, **env: str) -> Command:
    """``python -m mmzoo ARGS`` seeing the distributions installed in ``target``."""
    pythonpath = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return Command([sys.executable, "-m", "mmzoo", *args], {"PYTHONPATH": pythonpath, "COLUMNS": "200", **env})


def _write_distribution(root: Path, name: str, entry_point: str, module: str, source: str) -> Path:
    """A one-module setuptools distribution with an ``mmzoo`` entry point, written under ``root``."""
    project = root / name
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "0.1.0"
            dependencies = ["mmzoo"]

            [project.entry-points.mmzoo]
            {entry_point} = "{module}"

            [tool.setuptools]
            py-modules = ["{module}"]
            """
        ),
        encoding="utf-8",
    )
    (project / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return project


BROKEN_SOURCE = f'''\
"""A plugin that cannot be imported, like one whose optional dependency is missing."""

raise ImportError({BROKEN_MESSAGE!r})
'''

DUPLICATE_SOURCE = '''\
"""A plugin that registers an encoder under a name mmzoo's built-in encoders already use."""

import mmzoo


def make_conv1d(input_spec, dim: int = 8):
    """Not mmzoo's conv1d."""
    raise NotImplementedError


@mmzoo.hookimpl
def mmzoo_register_encoders(registrar):
    registrar.add("conv1d", make_conv1d)
'''


@dataclass(frozen=True)
class Installed:
    """The ``--target`` directories the session's distributions were installed into."""

    template: Path
    broken: Path
    duplicate: Path
    installs: dict[str, Result]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Install the template, the broken and the duplicate distribution, each into its own target.

    The template is copied first so that the build leaves nothing (``build/``, ``*.egg-info``) in
    the checkout. Each install takes about a second or two.
    """
    root = tmp_path_factory.mktemp("third-party")
    sources = root / "sources"
    template_copy = sources / "mmzoo-plugin-template"
    shutil.copytree(
        TEMPLATE,
        template_copy,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    broken = _write_distribution(sources, "mmzoo-broken-plugin", "broken", "mmzoo_broken_plugin", BROKEN_SOURCE)
    duplicate = _write_distribution(sources, "mmzoo-dup-plugin", "dup-conv1d", "mmzoo_dup_plugin", DUPLICATE_SOURCE)
    targets = Installed(root / "site-template", root / "site-broken", root / "site-dup", {})
    installs = _run_together(
        {
            "template": _pip_install(template_copy, targets.template),
            "broken": _pip_install(broken, targets.broken),
            "duplicate": _pip_install(duplicate, targets.duplicate),
        }
    )
    for result in installs.values():
        assert result.returncode == 0, result.describe()
    targets.installs.update(installs)
    return targets


@pytest.fixture(scope="session")
def cli(installed: Installed) -> dict[str, Result]:
    """Every ``mmzoo`` subprocess of this file, run concurrently once per session."""
    quickstart = "recipes/quickstart.yaml"
    return _run_together(
        {
            "template": _mmzoo(installed.template, "plugins", "--kind", "encoder"),
            "template_disabled": _mmzoo(
                installed.template, "plugins", "--kind", "encoder", **{DISABLE_ENV: "template"}
            ),
            "broken": _mmzoo(installed.broken, "plugins"),
            "broken_recipe": _mmzoo(
                installed.broken, "recipe", "check", quickstart, "model.fusion.name=does_not_exist"
            ),
            "duplicate": _mmzoo(installed.duplicate, "plugins"),
            "template_fit": _mmzoo(
                installed.template, "fit", quickstart, "model.encoders.audio={name: template_gru, dim: 32}",
                "trainer.max_epochs=1", "trainer.limit_train_batches=4", "trainer.limit_val_batches=2",
                "logger.wandb.mode=disabled", f"run.root={installed.template.parent / 'runs'}",
            ),  # fmt: skip
        }
    )


def _row(output: str, name: str) -> str:
    """The table row (one line, columns separated by ``│``) whose name column is ``name``."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 2 and cells[2] == name:
            return line
    raise AssertionError(f"no table row for '{name}' in:\n{output}")


# -- the template plugin ----------------------------------------------------------------------------


def test_template_installs_with_its_entry_point(installed: Installed) -> None:
    dist_info = installed.template / "mmzoo_plugin_template-0.1.0.dist-info"
    entry_points = (dist_info / "entry_points.txt").read_text(encoding="utf-8")
    assert re.search(r"^\[mmzoo\]\s*\ntemplate\s*=\s*mmzoo_plugin_template\.plugin\s*$", entry_points, re.M)
    package = installed.template / "mmzoo_plugin_template"
    assert {"__init__.py", "plugin.py", "gru.py", "py.typed"} <= {p.name for p in package.iterdir()}


def test_mmzoo_plugins_lists_the_installed_template(cli: dict[str, Result]) -> None:
    result = cli["template"]
    assert result.returncode == 0, result.describe()
    row = [cell.strip() for cell in _row(result.stdout, "template_gru").split("│")]
    assert row[1:5] == ["encoder", "template_gru", "template", "mmzoo-plugin-template 0.1.0"], result.describe()
    assert "GRU over the real positions" in row[5]
    # The built-in encoders are still there, attributed to mmzoo.
    assert "mmzoo-encoders" in _row(result.stdout, "conv1d")
    assert "failed to load" not in result.output, result.describe()


def test_a_recipe_trains_with_the_template_component(cli: dict[str, Result], installed: Installed) -> None:
    result = cli["template_fit"]
    assert result.returncode == 0, result.describe()
    (run,) = (installed.template.parent / "runs" / "quickstart").glob("*-fit")
    assert yaml.safe_load((run / "recipe.yaml").read_text())["model"]["encoders"]["audio"]["name"] == "template_gru"
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "completed" and "val/label/accuracy" in results["metrics"]


def test_disabling_the_template_hides_it(cli: dict[str, Result]) -> None:
    result = cli["template_disabled"]
    assert result.returncode == 0, result.describe()
    assert "template_gru" not in result.stdout, result.describe()
    assert "disabled by MMZOO_DISABLE_PLUGINS: template" in result.stdout, result.describe()
    _row(result.stdout, "conv1d")


# -- a plugin that fails to import ------------------------------------------------------------------


def test_broken_plugin_is_reported_and_the_rest_still_works(cli: dict[str, Result]) -> None:
    result = cli["broken"]
    assert result.returncode == 0, result.describe()
    for builtin in ("conv1d", "bag", "concat", "classification", "cross_entropy", "tones_and_words"):
        _row(result.stdout, builtin)
    warning = [line for line in result.stderr.splitlines() if "'broken'" in line]
    assert warning, f"no warning naming the plugin\n{result.describe()}"
    assert f"ImportError: {BROKEN_MESSAGE}" in warning[0]
    assert f"plugin 'broken' failed to load: ImportError: {BROKEN_MESSAGE}" in result.stdout
    assert "Traceback" not in result.output


def test_recipe_check_names_the_broken_plugin_for_an_unknown_component(cli: dict[str, Result]) -> None:
    result = cli["broken_recipe"]
    assert result.returncode == 2, result.describe()
    problem = [line for line in result.stderr.splitlines() if "unknown fusion 'does_not_exist'" in line]
    assert problem, result.describe()
    # The note is part of the error itself, not only the import warning printed before it.
    assert "failed to load" in problem[0] and "'broken'" in problem[0], result.describe()
    assert "ImportError" in problem[0]
    assert "Traceback" not in result.output


# -- a plugin that reuses a built-in name -----------------------------------------------------------


def test_duplicate_component_name_is_a_user_error_naming_both_plugins(cli: dict[str, Result]) -> None:
    result = cli["duplicate"]
    assert result.returncode == 2, result.describe()
    error = result.stderr
    assert "encoder 'conv1d' is registered twice" in error, result.describe()
    assert "'mmzoo-encoders' (mmzoo 0.1.0)" in error
    assert "'dup-conv1d' (mmzoo-dup-plugin 0.1.0)" in error
    assert "MMZOO_DISABLE_PLUGINS=" in error
    assert "Traceback" not in result.output and "internal error" not in error


# -- in-process plugins -----------------------------------------------------------------------------


def tiny_encoder(input_spec: ModalitySpec, dim: int = 4) -> object:
    """A factory that is never called: registration only reads its signature.

    Args:
        dim: output width.
    """
    raise NotImplementedError


class GoodPlugin:
    """Registers one encoder and one fusion."""

    @mmzoo.hookimpl
    def mmzoo_register_encoders(self, registrar: Registrar) -> None:
        registrar.add("good_encoder", tiny_encoder, example={"dim": 2})

    @mmzoo.hookimpl
    def mmzoo_register_fusions(self, registrar: Registrar) -> None:
        registrar.add("good_fusion", tiny_encoder)


class HeadHookRaises:
    """Registers an encoder, then its heads hook raises: the plugin loses everything."""

    @mmzoo.hookimpl
    def mmzoo_register_encoders(self, registrar: Registrar) -> None:
        registrar.add("flaky_encoder", tiny_encoder)

    @mmzoo.hookimpl
    def mmzoo_register_heads(self, registrar: Registrar) -> None:
        raise RuntimeError("head table is missing")


class InvalidName:
    @mmzoo.hookimpl
    def mmzoo_register_encoders(self, registrar: Registrar) -> None:
        registrar.add("Bad-Name", tiny_encoder)


class MisspeltHook:
    """``mmzoo_register_encoder`` (singular) is not an mmzoo hook; its valid hook must not run."""

    @mmzoo.hookimpl
    def mmzoo_register_encoder(self, registrar: Registrar) -> None:
        registrar.add("never_registered", tiny_encoder)

    @mmzoo.hookimpl
    def mmzoo_register_fusions(self, registrar: Registrar) -> None:
        registrar.add("typo_fusion", tiny_encoder)


def test_in_process_plugin_components_are_attributed_to_it() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        registry = load_registry(extra_plugins=[("good", GoodPlugin())], disabled=[])
    entry = registry.get("encoder", "good_encoder")
    assert (entry.plugin, entry.distribution) == ("good", None)
    assert [(o.name, o.default, o.doc) for o in entry.options] == [("dim", 4, "output width.")]
    assert entry.context_args == ("input_spec",) and dict(entry.example) == {"dim": 2}
    assert registry.get("fusion", "good_fusion").plugin == "good"
    builtin = registry.get("encoder", "conv1d")
    assert (builtin.plugin, builtin.distribution) == ("mmzoo-encoders", "mmzoo 0.1.0")
    assert registry.failed_plugins == {}


def test_disabled_in_process_plugin_is_named_in_unknown_component_errors() -> None:
    registry = load_registry(extra_plugins=[("good", GoodPlugin())], disabled=["good", "not_installed"])
    assert ("encoder", "good_encoder") not in registry
    assert registry.disabled_plugins == ["good"]
    with pytest.raises(UnknownComponentError, match=r"good_encoder.*'good' \(disabled by MMZOO_DISABLE_PLUGINS\)"):
        registry.get("encoder", "good_encoder")


def test_hook_that_raises_costs_only_its_own_plugin() -> None:
    plugins = [("flaky", HeadHookRaises()), ("good", GoodPlugin())]
    with pytest.warns(PluginWarning, match=r"plugin 'flaky' failed to load.*RuntimeError: head table is missing"):
        registry = load_registry(extra_plugins=plugins, disabled=[])
    assert list(registry.failed_plugins) == ["flaky"]
    assert "mmzoo_register_heads" in registry.failed_plugins["flaky"]
    # What it registered before its heads hook raised is withdrawn, not left half-loaded.
    assert ("encoder", "flaky_encoder") not in registry
    assert ("encoder", "good_encoder") in registry and ("fusion", "good_fusion") in registry
    assert ("encoder", "conv1d") in registry
    with pytest.raises(UnknownComponentError, match=r"'flaky' \(failed to load: "):
        registry.get("encoder", "flaky_encoder")


def test_an_invalid_component_name_skips_that_component() -> None:
    plugins = [("badname", InvalidName()), ("good", GoodPlugin())]
    with pytest.warns(PluginWarning, match=r"encoder 'Bad-Name' is skipped: plugin 'badname', .*\.py:\d+: "):
        registry = load_registry(extra_plugins=plugins, disabled=[])
    assert "the name 'Bad-Name' is invalid" in registry.failed_components[("encoder", "Bad-Name")]
    assert not registry.failed_plugins
    assert ("encoder", "good_encoder") in registry and ("encoder", "conv1d") in registry


def test_misspelt_hook_name_is_reported_not_ignored() -> None:
    plugins = [("typo", MisspeltHook()), ("good", GoodPlugin())]
    with pytest.warns(PluginWarning, match=r"plugin 'typo' failed to load.*mmzoo_register_encoder\b"):
        registry = load_registry(extra_plugins=plugins, disabled=[])
    assert "mmzoo_register_encoder'" in registry.failed_plugins["typo"]
    # The whole plugin is skipped, including its correctly named hook.
    assert ("fusion", "typo_fusion") not in registry
    assert ("encoder", "never_registered") not in registry
    assert ("encoder", "good_encoder") in registry and ("encoder", "conv1d") in registry


def test_the_template_own_tests_pass_when_installed(installed: Installed) -> None:
    """What a plugin author runs after copying the template must stay green."""
    result = _run_together(
        {
            "pytest": Command(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests")],
                {"PYTHONPATH": str(installed.template)},
            )
        }
    )["pytest"]
    assert result.returncode == 0, result.describe()
    assert re.search(r"\d+ passed", result.stdout), result.describe()
