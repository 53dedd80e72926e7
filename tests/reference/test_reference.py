"""The generated reference pages: complete, current, and with snippets that validate."""

from __future__ import annotations

import inspect
from pathlib import Path

import pluggy
import pytest
import yaml

from mmzoo import hookspecs
from mmzoo.reference import GENERATED_BY, reference_pages
from mmzoo.reference.components import modality_of, page_name, snippet
from mmzoo.reference.hooks import hook_functions, registrar_arguments
from mmzoo.registry import KINDS, Registrar

from ..conftest import REPO

REFERENCE = REPO / "docs" / "reference"


def _builtins(registry):
    return [entry for entry in registry.entries() if (entry.distribution or "").startswith("mmzoo ")]


def test_the_committed_reference_is_current(registry):
    """Regenerate with the command in GENERATED_BY when this fails."""
    pages = reference_pages(registry, distribution="mmzoo")
    stale = [name for name, text in pages.items() if not (REFERENCE / name).is_file() or (REFERENCE / name).read_text() != text]
    assert not stale, f"docs/reference is stale ({', '.join(stale)}): run `{GENERATED_BY}`"


def test_every_builtin_component_has_a_section_on_its_page(registry):
    for entry in _builtins(registry):
        page = (REFERENCE / page_name(entry.kind)).read_text()
        assert f"## `{entry.name}`" in page, f"{entry.kind} '{entry.name}' is missing from the reference"
        for option in entry.options:
            assert f"| `{option.name}` |" in page


def _block_at(data, entry):
    modality = modality_of(entry)
    path = {"encoder": f"model.encoders.{modality}", "fusion": "model.fusion", "head": "model.heads.label",
            "decoder": "model.decoders.transcript", "objective": "objectives.main", "weighting": "weighting", "datamodule": "data",
            "transform": f"transforms.{modality}"}[entry.kind]  # fmt: skip
    for key in path.split("."):
        data = data[key]
    return data[0] if entry.kind == "transform" else data


@pytest.mark.parametrize("kind", KINDS)
def test_every_snippet_validates_against_its_component(registry, kind):
    for entry in (e for e in _builtins(registry) if e.kind == kind):
        block = dict(_block_at(yaml.safe_load(snippet(entry)), entry))
        assert block.pop("name") == entry.name
        if kind == "decoder":
            assert block.pop("target") == "transcript"  # the recipe-level key every decoder needs
        problems = dict(entry.check_options(block))
        assert not problems, f"{kind} '{entry.name}': the snippet {block} has problems {problems}"
        assert not any(str(value).startswith("<") for value in block.values()), "placeholder in a built-in snippet"


def test_the_hook_page_documents_every_hook_and_registrar_argument():
    page = (REFERENCE / "hooks.md").read_text()
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    declared = {name for name in dir(manager.hook) if name.startswith("mmzoo_")}
    assert set(hook_functions()) == declared
    for name, function in hook_functions().items():
        assert f"## `{name}`" in page and inspect.getdoc(function).splitlines()[0] in page
    arguments = registrar_arguments()
    assert set(arguments) == set(inspect.signature(Registrar.add).parameters) - {"self"}
    for argument, description in arguments.items():
        assert description, f"registrar.add's `{argument}` has no description in its docstring"
        assert f"- `{argument}`: " in page


def test_markdown_from_the_command_line(capsys, tmp_path):
    from mmzoo.cli.main import EXIT_OK, EXIT_USER, main

    assert main(["plugins", "--format", "markdown", "--kind", "fusion"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("# Fusions") and "## `gated`" in out and "# Hooks" not in out
    assert main(["plugins", "--format", "markdown", "--distribution", "mmzoo", "--output", str(tmp_path)]) == EXIT_OK
    assert {p.name for p in Path(tmp_path).iterdir()} == {*(page_name(k) for k in KINDS), "hooks.md"}
    assert main(["plugins", "--format", "markdown", "--distribution", "mmzo"]) == EXIT_USER
    assert "did you mean 'mmzoo'" in capsys.readouterr().err
