"""Reference pages generated from the code: one page per component kind (from the registry) and the
hook page (from :mod:`mmzoo.hookspecs` and ``registrar.add``). ``mmzoo plugins --format markdown``
prints or writes them; docs/reference/ holds the committed ones."""

from __future__ import annotations

from pathlib import Path

from mmzoo.reference.components import GENERATED_BY, component_page, entries_of, page_name
from mmzoo.reference.hooks import HOOKS_PAGE, hooks_page
from mmzoo.registry import KINDS, Registry

__all__ = ["GENERATED_BY", "reference_pages", "write_reference"]


def reference_pages(registry: Registry, *, kind: str | None = None, distribution: str | None = None) -> dict[str, str]:
    """File name -> Markdown text: each kind's page (or one kind's) and, for all kinds, the hooks page.

    Args:
        registry: the components to describe.
        kind: only this kind.
        distribution: only the components of this distribution (its name, e.g. ``mmzoo``).
    """
    kinds = KINDS if kind is None else (kind,)
    pages = {page_name(k): component_page(k, entries_of(registry, k, distribution)) for k in kinds}
    if kind is None:
        pages[HOOKS_PAGE] = hooks_page()
    return pages


def write_reference(pages: dict[str, str], folder: Path) -> list[Path]:
    """Write the pages into ``folder`` (created if needed); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
