"""``mmzoo plugins``: tables of registered components and their options."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mmzoo.errors import UnknownComponentError
from mmzoo.plugins import load_registry
from mmzoo.registry import KINDS, did_you_mean, factory_path
from mmzoo.registry_cache import load_schemas
from mmzoo.typecheck import yaml_text

__all__ = ["list_components", "reference", "show_component"]


def _console() -> Console:
    """Rich console; wide when writing to a pipe or file, so tables are not folded."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _cell(text: str) -> str:
    """Table text: literal brackets (``list[int]`` is not rich markup), no RST quoting."""
    return escape(text.replace("``", ""))


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise UnknownComponentError(f"unknown kind '{kind}'{did_you_mean(kind, KINDS)}; kinds: {', '.join(KINDS)}")


def list_components(kind: str | None = None) -> int:
    """Print every component with its kind, plugin, distribution and one-line doc."""
    _check_kind(kind)
    registry = load_schemas().registry
    table = Table(title="mmzoo components", show_lines=False)
    for column in ("kind", "name", "plugin", "distribution", "description"):
        table.add_column(column, overflow="fold")
    for entry in registry.entries(kind):
        table.add_row(*map(_cell, (entry.kind, entry.name, entry.plugin, entry.distribution or "-", entry.doc)))
    console = _console()
    console.print(table)
    for name, why in sorted(registry.failed_plugins.items()):
        console.print(f"[yellow]plugin '{name}' failed to load:[/yellow] {escape(why)}", highlight=False)
    for (failed_kind, name), why in sorted(registry.failed_components.items()):
        if kind is None or failed_kind == kind:
            console.print(f"[yellow]{failed_kind} '{name}' was not registered:[/yellow] {escape(why)}", highlight=False)
    if registry.disabled_plugins:
        console.print(f"disabled by MMZOO_DISABLE_PLUGINS: {', '.join(registry.disabled_plugins)}")
    return 0


def show_component(name: str, kind: str | None = None) -> int:
    """Print one component's options with their types, defaults and descriptions."""
    _check_kind(kind)
    registry = load_schemas().registry
    entries = [e for e in registry.find(name) if kind in (None, e.kind)]
    rejected = [
        f"{failed_kind} '{failed_name}' was not registered: {why}"
        for (failed_kind, failed_name), why in sorted(registry.failed_components.items())
        if failed_name == name and kind in (None, failed_kind)
    ]
    if not entries and rejected:
        raise UnknownComponentError("; ".join(rejected), hint="fix its declaration in the plugin (docs/plugins.md)")
    if not entries:
        everything = [e.name for e in registry.entries()]
        raise UnknownComponentError(
            f"no component named '{name}'{did_you_mean(name, everything)}" + registry.not_loaded_note(),
            hint="`mmzoo plugins` lists them all",
        )
    console = _console()
    for entry in entries:
        console.print(f"[bold]{entry.kind} '{entry.name}'[/bold]: {_cell(entry.doc)}", highlight=False)
        console.print(f"plugin: {entry.plugin} ({entry.distribution or 'not installed'})", highlight=False)
        console.print(f"factory: {factory_path(entry.factory)}", highlight=False)
        if entry.docs_url:
            console.print(f"docs: {entry.docs_url}", highlight=False)
        if entry.paper:
            console.print(f"paper: {_cell(entry.paper)}", highlight=False)
        table = Table(show_lines=False)
        for column in ("option", "type", "default", "description"):
            table.add_column(column, overflow="fold")
        for option in entry.options:
            default = "(required)" if option.required else yaml_text(option.default)
            table.add_row(*map(_cell, (option.name, option.type_name, default, option.doc)))
        console.print(table)
        if entry.context_args:
            console.print(f"provided by mmzoo at build time: {', '.join(entry.context_args)}", highlight=False)
    return 0


def reference(kind: str | None, distribution: str | None, output: str | None) -> int:
    """Print the Markdown reference, or write its pages into ``output``."""
    from pathlib import Path

    from mmzoo.reference import reference_pages, write_reference
    from mmzoo.reference.components import entries_of

    _check_kind(kind)
    registry = load_registry()
    if distribution and not any(entries_of(registry, k, distribution) for k in KINDS):
        found = sorted({entry.distribution.split(" ")[0] for entry in registry.entries() if entry.distribution})
        raise UnknownComponentError(
            f"no component comes from a distribution named '{distribution}'{did_you_mean(distribution, found)}",
            hint=f"distributions with components: {', '.join(found)}",
        )
    pages = reference_pages(registry, kind=kind, distribution=distribution)
    if output is None:
        print("\n".join(pages.values()), end="")
        return 0
    for path in write_reference(pages, Path(output)):
        print(f"wrote {path}")
    return 0
