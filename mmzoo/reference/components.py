"""The component reference: one Markdown page per kind, generated from the registry.

Each component gets its description, plugin, factory, what it reads or does with a missing
modality, its documentation link and paper (``registrar.add(docs_url=..., paper=...)``), the
arguments mmzoo provides at build time, a table of its options (type with declared range, default,
description) and a minimal recipe snippet: the component's block with its required options, as a
recipe writes it. ``tests/reference`` checks every snippet against the component's schema, and
that the committed pages are what this module writes today.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from mmzoo.registry import CONTEXT_ARGS, KINDS, REQUIRED, Entry, Option, Registry, factory_path
from mmzoo.typecheck import NO_YAML, yaml_form, yaml_text

__all__ = ["GENERATED_BY", "component_page", "entries_of", "modality_of", "page_name", "snippet", "snippet_options"]

#: The command that regenerates the committed pages (docs/reference/).
GENERATED_BY = "mmzoo plugins --format markdown --distribution mmzoo --output docs/reference"

#: Where each kind's block goes in a recipe: the recipe path written around the snippet
#: (``{modality}``: a modality the component reads, see :func:`modality_of`).
_PLACES: dict[str, tuple[str, ...]] = {
    "encoder": ("model", "encoders", "{modality}"),
    "fusion": ("model", "fusion"),
    "head": ("model", "heads", "label"),
    "decoder": ("model", "decoders", "transcript"),
    "objective": ("objectives", "main"),
    "weighting": ("weighting",),
    "datamodule": ("data",),
    "transform": ("transforms", "{modality}"),
}

#: Recipe-level keys a kind's snippet must write (they have no default), with a value.
_REQUIRED_KEYS: dict[str, dict[str, Any]] = {"decoder": {"target": "transcript"}}

#: A modality name for each ModalitySpec kind, for snippets.
_MODALITY_OF_KIND = {"image": "image", "tokens": "text", "text": "text", "waveform": "audio", "features": "audio"}

_INTRO: dict[str, str] = {
    "encoder": "Encoders turn one modality's batch values into `Encoded` (`seq` `(B, T', D)`, `mask`, `pooled` `(B, D)`)."
    " Besides the options below every encoder takes `freeze`, `train_last`, `project_dim`, `lora` and"
    " `gradient_checkpointing` (see [encoders](../encoders.md)).",
    "fusion": "Fusions combine the encoded modalities into one `Fused` (`pooled` `(B, D)`, optional `seq`, `mask`,"
    " `parts`, `weights`). See [fusions](../fusions.md) for how to choose one.",
    "head": "Heads read the fused representation (and, for some, the encoded modalities) and return the outputs"
    " objectives score.",
    "decoder": "Decoders generate token sequences from an encoder's or the fusion's memory: teacher-forced logits"
    " for the loss, and greedy or beam search (optionally joint with a CTC head) for the hypotheses. Besides the"
    " options below every decoder takes `target` (required), `memory` (default `fusion`) and `search`"
    " (see [generation](../generation.md)).",
    "objective": "Objectives turn head outputs and batch targets into a loss, and keep their metrics. Every objective"
    " also takes `weight` (default 1.0). See [objectives](../objectives.md).",
    "weighting": "Weightings combine the objectives' losses into the one that is minimised.",
    "datamodule": "Datamodules read the data and deliver `Batch`es; see [data](../data.md).",
    "transform": "Transforms change one modality's values row by row, inside the data loaders. Every transform also"
    " takes `train_only` (default false).",
}


def page_name(kind: str) -> str:
    """The file name of a kind's page: ``fusions.md``."""
    return f"{kind}s.md"


def _default(option: Option) -> str:
    if option.default is REQUIRED:
        return "*required*"
    form = yaml_form(option.default)
    if form is NO_YAML:
        return f"*{type(option.default).__name__} object*"
    return f"`{yaml_text(form)}`"


def _cell(text: str) -> str:
    """Table cell text: one line, pipes escaped, reST double backquotes as Markdown code."""
    return " ".join(text.replace("``", "`").replace("|", "\\|").split())


def snippet_options(entry: Entry) -> dict[str, Any]:
    """The options of the minimal snippet: every required option, with its value in the component's
    example (``<option>`` when the example has none that YAML can write)."""
    try:
        example = entry.example_options()
    except Exception:  # an example built from files that are not there: placeholders instead
        example = {}
    chosen: dict[str, Any] = {}
    for option in entry.options:
        if option.required:
            form = yaml_form(example.get(option.name, NO_YAML))
            chosen[option.name] = f"<{option.name}>" if form is NO_YAML else form
    return chosen


def modality_of(entry: Entry) -> str:
    """A modality an encoder or transform works on, to name in its snippet: from an encoder's
    ``input_kinds``; for a transform, from its module (``...transforms.text`` -> ``text``)."""
    if entry.kind == "encoder" and entry.input_kinds:
        return _MODALITY_OF_KIND.get(entry.input_kinds[0], "audio")
    module = factory_path(entry.factory).rsplit(".", 2)[-2]
    return module if module in ("audio", "image", "text") else "audio"


def snippet(entry: Entry) -> str:
    """The component's block in a recipe, at its usual place, as YAML."""
    block: Any = {"name": entry.name, **_REQUIRED_KEYS.get(entry.kind, {}), **snippet_options(entry)}
    if entry.kind == "transform":
        block = [block]
    for key in reversed(_PLACES[entry.kind]):
        block = {key.format(modality=modality_of(entry)): block}
    return yaml.safe_dump(block, default_flow_style=None, sort_keys=False).strip()


def _facts(entry: Entry) -> list[str]:
    facts = [
        f"- plugin `{entry.plugin}` ({entry.distribution or 'not installed'}),"
        f" factory `{factory_path(entry.factory)}`"
    ]
    if entry.kind == "fusion":
        handles = entry.handles_missing
        facts.append(
            "- missing modalities: "
            + (
                "handled: rows may lack a modality (an all-false mask); the output does not depend on its values"
                if handles
                else "not handled: recipes that let a modality be missing (`optional: true`) are refused"
            )
        )
    if entry.kind == "encoder":
        if entry.input_kinds:
            facts.append("- reads modalities of kind " + ", ".join(f"`{kind}`" for kind in entry.input_kinds))
    if entry.context_args:
        facts.append("- provided by mmzoo at build time: " + ", ".join(f"`{name}`" for name in entry.context_args))
    if entry.accepts_extra:
        facts.append("- takes further options (`**kwargs`): they are passed on unchecked")
    if entry.paper:
        facts.append(f"- paper: {_cell(entry.paper)}")
    if entry.docs_url:
        facts.append(f"- documentation: <{entry.docs_url}>")
    return facts


def _section(entry: Entry) -> list[str]:
    lines = [f"## `{entry.name}`", "", _cell(entry.doc) or "(no description)", "", *_facts(entry), ""]
    if entry.options:
        lines += ["| option | type | default | description |", "|---|---|---|---|"]
        for option in entry.options:
            lines.append(
                f"| `{option.name}` | `{_cell(option.type_name)}` | {_default(option)} | {_cell(option.doc) or ' '} |"
            )
    else:
        lines.append("No options.")
    lines += ["", "```yaml", snippet(entry), "```", ""]
    return lines


def component_page(kind: str, entries: Iterable[Entry]) -> str:
    """The Markdown page of one kind: every entry, sorted by name."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    chosen = sorted(entries, key=lambda entry: entry.name)
    title = kind.capitalize() + "s"
    lines = [
        f"# {title}",
        "",
        f"<!-- Generated by `{GENERATED_BY}`; do not edit by hand. -->",
        "",
        _INTRO[kind],
        "",
        f"What mmzoo passes to a {kind} factory besides the options: "
        + (", ".join(f"`{name}`" for name in CONTEXT_ARGS[kind]) or "nothing")
        + ". `mmzoo plugins show NAME` prints the same table for any installed component.",
        "",
        " · ".join(f"[`{entry.name}`](#{entry.name})" for entry in chosen),
        "",
    ]
    for entry in chosen:
        lines += _section(entry)
    return "\n".join(lines).rstrip() + "\n"


def entries_of(registry: Registry, kind: str, distribution: str | None) -> list[Entry]:
    """A kind's entries, those of one distribution (by name, without version) when given."""
    return [
        entry
        for entry in registry.entries(kind)
        if distribution is None or (entry.distribution or "").split(" ")[0] == distribution
    ]

