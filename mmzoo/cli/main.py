"""The ``mmzoo`` command line.

Exit codes: 0 success, 2 user error (a short message naming the problem and the fix), 1 internal
error, 75 a run stopped by SIGTERM or SIGUSR1 after saving its state (resume it with ``--resume last``). ``--debug`` shows tracebacks. Parsing imports nothing heavy, so ``mmzoo --help`` is instant;
torch and Lightning load only for the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Sequence

from mmzoo import __version__
from mmzoo.errors import MmzooError, RunInterrupted
from mmzoo.registry import KINDS

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2

_RUN_HELP = {
    "fit": "train a model from a recipe",
    "validate": "evaluate a checkpoint on the validation split",
    "test": "evaluate a checkpoint on the test split",
    "predict": "write predictions of a checkpoint to predictions.jsonl",
}
_CKPT_HELP = {
    "fit": "resume training from a checkpoint: 'last' (newest run of this recipe) or a path",
    "other": "weights to use: 'best' (default), 'last', 'none' (untrained) or a .ckpt path",
}


class _Parser(argparse.ArgumentParser):
    """Argument errors are user errors: exit 2 with a one-line message (argparse's default too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_USER)


def build_parser() -> argparse.ArgumentParser:
    # `--debug` may come before the command or after it: the commands' copy has no default of its
    # own, so that `mmzoo --debug fit ...` is not reset to False by the `fit` parser.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors")

    parser = _Parser(
        prog="mmzoo",
        description="Multimodal model zoo: train and evaluate models assembled from YAML recipes.",
        epilog="Examples:\n  mmzoo fit recipes/quickstart.yaml trainer.max_epochs=3\n"
        "  mmzoo plugins --kind fusion\n  mmzoo recipe check recipes/quickstart.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"mmzoo {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for name, help_text in _RUN_HELP.items():
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.add_argument("recipe", help="recipe file, or a run directory (uses its recipe.yaml and checkpoints)")
        sub.add_argument(
            "overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides, e.g. trainer.max_epochs=1"
        )
        if name == "fit":
            sub.add_argument("--resume", dest="ckpt", metavar="CKPT", help=_CKPT_HELP["fit"])
        else:
            sub.add_argument("--ckpt", metavar="CKPT", default="best", help=_CKPT_HELP["other"])
        sub.add_argument(
            "--trust-checkpoint",
            action="store_true",
            help="load checkpoints with Python's full unpickler, which can run code stored in the file"
            " (only for files you trust; the default refuses anything but tensors and plain containers)",
        )
        if name == "predict":
            sub.add_argument(
                "--resume",
                dest="resume",
                metavar="RUN_DIR",
                help="continue an interrupted predict run in RUN_DIR: rows it already wrote are not redone",
            )

    plugins = commands.add_parser(
        "plugins", help="list registered components", description="List components from all plugins.", parents=[common]
    )
    plugins.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    plugins.add_argument("name", nargs="?", help="component name, for 'show'")
    plugins.add_argument("--kind", help=f"only this kind ({', '.join(KINDS)})")
    plugins.add_argument(
        "--format",
        choices=["table", "markdown"],
        default="table",
        help="markdown: the reference pages (each kind's components with their options, and the hooks)",
    )
    plugins.add_argument("--distribution", help="only the components of this distribution (e.g. mmzoo)")
    plugins.add_argument("--output", metavar="DIR", help="with --format markdown: write one page per kind into DIR")

    recipe = commands.add_parser(
        "recipe", help="check or show a recipe", description="Validate or print a recipe.", parents=[common]
    )
    recipe.add_argument("action", choices=["check", "show"])
    recipe.add_argument("recipe", help="recipe file or run directory")
    recipe.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    recipe.add_argument(
        "--build",
        action="store_true",
        help="check: also build the model and run one small example batch through it, forward and backward",
    )

    runs_help = "list run directories (newest first) with their command, status, metric and model fingerprint"
    runs = commands.add_parser("runs", help=runs_help, description=runs_help, parents=[common])
    runs.add_argument("name", nargs="?", metavar="NAME", help="one run group (run.name); default: all groups")
    runs.add_argument("--root", default="runs", help="run.root to look in (default runs)")

    bench_help = "run a benchmark suite (recipes x override cells x seeds) and write its leaderboard"
    bench = commands.add_parser(
        "bench",
        help=bench_help,
        description=bench_help + "; `mmzoo bench report DIR` rebuilds the leaderboard of a suite's folder",
        parents=[common],
    )
    bench.add_argument("suite", metavar="SUITE", help="a suite file, or `report` followed by a suite's folder")
    bench.add_argument("directory", nargs="?", metavar="DIR", help="with `report`: the suite's folder (runs/bench/<suite>)")
    bench.add_argument("--dry-run", action="store_true", help="validate every cell and print the grid; train nothing")
    bench.add_argument("--parallel", type=int, default=1, metavar="N", help="runs at once (one GPU each when there are N)")
    bench.add_argument("--root", default="runs/bench", help="where suites' runs go (default runs/bench)")

    qc_help = "speech quality inspection tools"
    qc = commands.add_parser("qc", help=qc_help, description=qc_help, parents=[common])
    qc_actions = qc.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    baseline_help = "fit the heuristic baseline on a speech_qc recipe's training split and report on another split"
    baseline = qc_actions.add_parser("baseline", help=baseline_help, description=baseline_help, parents=[common])
    baseline.add_argument("recipe", help="a speech_qc recipe file or run directory")
    baseline.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    baseline.add_argument("--split", choices=["val", "test", "predict"], default="test", help="the split to label")
    return parser


def _dispatch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.command in _RUN_HELP:
        from mmzoo.run import run_recipe

        resume = getattr(args, "resume", None) if args.command == "predict" else None
        overrides = [*args.overrides, *(["checkpoint.trust=true"] if args.trust_checkpoint else [])]
        run_recipe(args.command, args.recipe, overrides, ckpt=args.ckpt, resume=resume, argv=list(argv))
        return EXIT_OK
    if args.command == "plugins":
        from mmzoo.cli.plugins import list_components, reference, show_component

        if args.format == "markdown" or args.output:
            if args.action == "show" or args.format != "markdown":
                raise MmzooError("--output writes the Markdown reference", hint="use `mmzoo plugins --format markdown --output DIR`")
            return reference(args.kind, args.distribution, args.output)
        if args.distribution:
            raise MmzooError("--distribution selects the components of the Markdown reference", hint="add --format markdown")
        if args.action == "show":
            if not args.name:
                raise MmzooError("`mmzoo plugins show` needs a component name", hint="e.g. mmzoo plugins show concat")
            return show_component(args.name, args.kind)
        return list_components(args.kind)
    if args.command == "recipe":
        from mmzoo.cli.recipe import check_recipe, show_recipe

        if args.action == "check":
            return check_recipe(args.recipe, args.overrides, build=args.build)
        if args.build:
            raise MmzooError("--build goes with `mmzoo recipe check`", hint="mmzoo recipe check RECIPE --build")
        return show_recipe(args.recipe, args.overrides)
    if args.command == "runs":
        from mmzoo.cli.runs import list_runs

        return list_runs(args.name, args.root)
    if args.command == "bench":
        from pathlib import Path

        from mmzoo.bench.command import bench, bench_report

        if args.suite == "report":
            if not args.directory:
                raise MmzooError("`mmzoo bench report` needs the suite's folder", hint="e.g. mmzoo bench report runs/bench/fusions")
            return bench_report(args.directory)
        if args.directory:
            raise MmzooError(f"unexpected argument {args.directory!r}", hint="mmzoo bench SUITE.yaml [--dry-run] [--parallel N]")
        return bench(args.suite, root=Path(args.root), dry_run=args.dry_run, parallel=args.parallel)
    if args.command == "qc":
        from mmzoo.qc.baseline import run_baseline

        run_baseline(args.recipe, args.overrides, split=args.split)
        return EXIT_OK
    raise AssertionError(args.command)


def _format_warning(message, category, filename, lineno, line=None) -> str:  # type: ignore[no-untyped-def]
    from mmzoo.plugins import PluginWarning

    if issubclass(category, PluginWarning):
        return f"warning: {message}\n"
    return warnings._formatwarning_orig(message, category, filename, lineno, line)  # type: ignore[attr-defined]


def _without_worker_traceback(text: str) -> str:
    """A DataLoader worker re-raises our errors with its traceback inside the message: drop it."""
    if "Original Traceback" not in text:
        return text
    lines = text.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("mmzoo.errors.")]
    if not starts:
        return text
    lines = lines[starts[-1] :]
    lines[0] = lines[0].split(": ", 1)[-1]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmzoo`` console script. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Overrides may come after options (`fit r.yaml --debug a=1`): argparse leaves those as extras.
    args, extras = parser.parse_known_args(argv)
    stray = [item for item in extras if item.startswith("-") or "=" not in item or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extras:
        args.overrides = [*args.overrides, *extras]
    if args.command is None:
        parser.print_help()
        return EXIT_USER
    if not hasattr(warnings, "_formatwarning_orig"):
        warnings._formatwarning_orig = warnings.formatwarning  # type: ignore[attr-defined]
    warnings.formatwarning = _format_warning  # type: ignore[assignment]
    try:
        return _dispatch(args, argv)
    except MmzooError as exc:
        if args.debug:
            traceback.print_exc()
        label = "interrupted" if isinstance(exc, RunInterrupted) else "error"
        print(f"{label}: {_without_worker_traceback(exc.render())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in mmzoo or a plugin; rerun with --debug for the traceback and report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
