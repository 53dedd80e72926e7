"""mmzoo's packages import one way: each layer uses only the layers below it (docs/architecture.md).

Every ``import`` in ``mmzoo/`` is read, function-local ones included (a deferred import is still a
dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

#: Lowest first. A module belongs to the layer of its longest listed prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "mmzoo.errors",
            "mmzoo.constraints",
            "mmzoo.typecheck",
            "mmzoo.typeform",
            "mmzoo.console",
            "mmzoo.generation_settings",
        ),
    ),
    ("registry", ("mmzoo", "mmzoo.registry", "mmzoo.hookspecs", "mmzoo.plugins")),
    ("contracts", ("mmzoo.contracts", "mmzoo.examples")),
    ("mechanics", ("mmzoo.ops", "mmzoo.lifecycle", "mmzoo.scaling")),
    ("data", ("mmzoo.data",)),
    (
        "model parts",
        ("mmzoo.encoders", "mmzoo.fusions", "mmzoo.heads", "mmzoo.decoders", "mmzoo.objectives", "mmzoo.weightings"),
    ),
    ("model", ("mmzoo.module", "mmzoo.generation", "mmzoo.optim", "mmzoo.predictions", "mmzoo.progress")),
    ("recipes", ("mmzoo.recipe", "mmzoo.registry_cache", "mmzoo.reference", "mmzoo.testing")),
    (
        "runs",
        (
            "mmzoo.build",
            "mmzoo.build_check",
            "mmzoo.encoder_settings",
            "mmzoo.tracking",
            "mmzoo.run",
            "mmzoo.run_dirs",
            "mmzoo.run_checkpoints",
            "mmzoo.bench",
        ),
    ),
    ("applications", ("mmzoo.qc",)),
    ("command line", ("mmzoo.cli", "mmzoo.__main__")),
]


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of a module, or ``None`` outside mmzoo."""
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import of an mmzoo module in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "mmzoo" or name.startswith("mmzoo.")]


SOURCES = sorted((REPO / "mmzoo").rglob("*.py"))


def test_every_module_has_a_layer():
    assert [module_name(p) for p in SOURCES if layer_of(module_name(p)) is None] == []


def test_layers_import_only_downwards():
    upward = []
    for path in SOURCES:
        here = module_name(path)
        mine = layer_of(here)
        for line, target in imports_of(path):
            theirs = layer_of(target)
            if theirs is not None and mine is not None and theirs > mine:
                upward.append(
                    f"{path.relative_to(REPO)}:{line}: {here} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})"
                )
    assert upward == [], "\n".join(upward)


@pytest.mark.parametrize(
    "module, target, allowed",
    [
        ("mmzoo.qc.report", "mmzoo.run", True),
        ("mmzoo.data.manifest_datamodule", "mmzoo.qc.report", False),
        ("mmzoo.objectives.ctc", "mmzoo.data.fields", True),
        ("mmzoo.data.fields", "mmzoo.objectives.ctc", False),
        ("mmzoo.build", "mmzoo.contracts.datamodule", True),
        ("mmzoo.registry", "mmzoo.contracts", False),
    ],
)
def test_the_rule_itself(module, target, allowed):
    assert (layer_of(target) <= layer_of(module)) is allowed
