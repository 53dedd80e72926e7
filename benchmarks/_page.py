"""Generated sections of the documentation pages: a tool's lines between its two marker comments."""

from __future__ import annotations

from pathlib import Path


def markers(tool: str) -> tuple[str, str]:
    """The comments that open and close ``tool``'s section (``tool`` as ``benchmarks/name.py``)."""
    return f"<!-- {tool} results: start -->", f"<!-- {tool} results: end -->"


def splice(text: str, tool: str, lines: list[str]) -> str | None:
    """``text`` with ``lines`` between ``tool``'s markers (the hand-written rest kept), or ``None``
    when ``text`` lacks them."""
    start, end = markers(tool)
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    body = "\n".join(lines).strip()
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_section(path: Path, tool: str, lines: list[str]) -> None:
    """Rewrite ``tool``'s section of the page at ``path``; the page must already have its markers."""
    text = path.read_text(encoding="utf-8")
    spliced = splice(text, tool, lines)
    if spliced is None:
        start, end = markers(tool)
        raise SystemExit(f"{path} has no section for {tool}: add the lines {start!r} and {end!r} where it goes")
    path.write_text(spliced, encoding="utf-8")
