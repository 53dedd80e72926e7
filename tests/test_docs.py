"""The documentation keeps up with the code: hooks, recipe sections, README and docs commands."""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmzoo import hookspecs
from mmzoo.cli.main import build_parser
from mmzoo.errors import RecipeError
from mmzoo.recipe import parse_override
from mmzoo.recipe.schema import SECTIONS

from .conftest import REPO

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("mmzoo_")]


def test_there_are_hooks():
    from mmzoo.registry import KINDS

    assert len(HOOKS) == len(KINDS) == 8  # one per kind of component


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    assert f"### {hook}\n" in (REPO / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("section", SECTIONS)
def test_every_recipe_section_is_documented(section):
    assert f"| `{section}` |" in (REPO / "docs" / "recipes.md").read_text()


def test_readme_leads_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    assert first_block.splitlines()[0].startswith("make quickstart")
    assert first_block.splitlines()[1].startswith("make test")
    assert readme.index("make quickstart") < readme.index("## ")


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: setup\n\t\$\(BIN\)/python -m pytest$", makefile, re.M)
    assert re.search(r"^quickstart: setup\n\t\$\(BIN\)/mmzoo fit recipes/quickstart.yaml$", makefile, re.M)


def test_docs_links_resolve():
    for page in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+?)\)", page.read_text()):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


# -- command lines in code blocks -------------------------------------------------------------------
#
# Every `mmzoo ...` command in a shell code block of README.md and docs/**/*.md must work when
# pasted into bash or zsh:
#
# - the line (with its `\\` continuations, without a `$ ` prompt and a trailing `# comment`) is cut
#   at unquoted `|`, `;` and `&`; the piece holding the word `mmzoo` (`.venv/bin/mmzoo`,
#   `-m mmzoo`) is the command;
# - after `mmzoo`, no shell metacharacter may stand unquoted: `{ } [ ] * ? $ ( ) < > \``; they
#   would be expanded, globbed or redirected (`model.fusion={name: gated}` splits into two
#   arguments; `trainer.devices=[0,1]` is a glob that zsh refuses);
# - its arguments, split with `shlex.split`, parse with the real parser and the stray-argument rule
#   of `mmzoo.cli.main.main`, and every override parses with `parse_override`.
#
# Templates are skipped: a command whose arguments hold a placeholder word in capitals (`RECIPE`,
# `KEY=VALUE`, `RUN_DIR`, `CKPT`...), outside `${...}` references.

SHELL_LANGUAGES = ("", "bash", "sh", "shell", "console")
METACHARACTERS = set("{}[]*?$()<>`")
PLACEHOLDER = re.compile(r"(?<![\w.])[A-Z][A-Z0-9_]*[A-Z](?![\w.])")
DOC_PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def shell_lines(page: Path) -> Iterator[tuple[int, str]]:
    """``(line number, logical line)`` of the shell code blocks of a page, continuations joined."""
    text = page.read_text()
    for block in re.finditer(r"^( *)```(\w*)\n(.*?)^\1```", text, re.S | re.M):
        if block.group(2) not in SHELL_LANGUAGES:
            continue
        first = text.count("\n", 0, block.start(3)) + 1
        pending, start = "", first
        for number, line in enumerate(block.group(3).splitlines(), first):
            if not pending:
                start = number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield start, pending + line
            pending = ""


def unquoted(line: str) -> tuple[list[tuple[int, str]], int]:
    """The ``(index, character)`` pairs outside quotes, and where a ``#`` comment starts (or the end)."""
    found: list[tuple[int, str]] = []
    quote = None
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif quote:
            quote = None if char == quote else quote
        elif char == "\\":
            escaped = True
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return found, index
        else:
            found.append((index, char))
    return found, len(line)


def mmzoo_commands(line: str) -> Iterator[str]:
    """The text after the word ``mmzoo`` of each piece of ``line`` that runs it."""
    line = re.sub(r"^\s*\$ ", "", line)
    chars, end = unquoted(line)
    bounds = [-1, *(index for index, char in chars if char in "|;&"), end]
    for left, right in zip(bounds, bounds[1:], strict=False):
        piece = line[left + 1 : right]
        match = re.search(r"(?:^|\s)(?:\S*/)?mmzoo(?=\s|$)", piece)
        if match:
            yield piece[match.end() :]


def doc_commands() -> list[tuple[str, str]]:
    found = []
    for page in DOC_PAGES:
        for number, line in shell_lines(page):
            for command in mmzoo_commands(line):
                found.append((f"{page.relative_to(REPO)}:{number}", command))
    return found


COMMANDS = doc_commands()
CHECKED = [
    (where, command) for where, command in COMMANDS if not PLACEHOLDER.search(re.sub(r"\$\{[^}]*\}", "", command))
]


def test_the_docs_have_commands_to_check():
    assert len(CHECKED) >= 20
    assert len(COMMANDS) - len(CHECKED) <= 15  # the templates (the synopsis of docs/cli.md)


@pytest.mark.parametrize("where, command", CHECKED, ids=[where for where, _ in CHECKED])
def test_docs_command_line_parses(where, command, capsys):
    bare = [char for _, char in unquoted(command)[0] if char in METACHARACTERS]
    assert not bare, f"{where}: quote the argument holding {' '.join(sorted(set(bare)))}: mmzoo{command}"
    argv = shlex.split(command)
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: mmzoo{command}\n{capsys.readouterr().err}")
    # main() treats extras as overrides only if they look like one and the command takes overrides
    takes_overrides = "overrides" in vars(args)
    stray = [item for item in extras if item.startswith("-") or "=" not in item or not takes_overrides]
    assert not stray, f"{where}: unrecognized arguments {stray}: mmzoo{command}"
    assert args.command is not None, f"{where}: no command: mmzoo{command}"
    for override in [*vars(args).get("overrides", []), *extras]:
        try:
            parse_override(override)
        except RecipeError as exc:
            pytest.fail(f"{where}: {exc.render()}")


def test_the_command_check_sees_what_the_shell_does():
    (bare,) = mmzoo_commands("mmzoo fit r.yaml model.fusion={name: gated, dim: 64}  # comment")
    assert {char for _, char in unquoted(bare)[0]} & METACHARACTERS == {"{", "}"}
    (quoted,) = mmzoo_commands("$ .venv/bin/mmzoo fit r.yaml 'model.fusion={name: gated, dim: 64}' | tee log")
    assert not {char for _, char in unquoted(quoted)[0]} & METACHARACTERS
    assert shlex.split(quoted) == ["fit", "r.yaml", "model.fusion={name: gated, dim: 64}"]
    assert list(mmzoo_commands("torchrun -m mmzoo fit r.yaml || exit 1")) == [" fit r.yaml "]
    assert list(mmzoo_commands("mmzoo: skipped 2 bad rows")) == []
    assert PLACEHOLDER.search(" fit RECIPE [KEY=VALUE ...]") and not PLACEHOLDER.search(
        " fit r.yaml trainer.precision=bf16-mixed"
    )
