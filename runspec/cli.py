"""The ``runspec`` command line.

:func:`main` is the only place that prints errors and chooses exit codes: 0 for
success, 1 for a runspec error (one line on stderr, never a traceback), 2 for a
command-line usage error. Each subcommand has a ``_add_*`` function that builds
its parser and a ``_cmd_*`` function that does the work; modules a command needs
are imported inside it, so that starting the CLI stays cheap.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import RunspecError

__all__ = ["main"]

_Handler = Callable[[argparse.Namespace], int]


def _parser(sub: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="example:\n  " + example.replace("\n", "\n  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _print_json(data: object) -> None:
    import json

    # default=str: lenient parsing keeps TOML dates and times, which JSON lacks
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _warn(message: str) -> None:
    print(f"runspec: warning: {message}", file=sys.stderr)


# show -----------------------------------------------------------------------


def _add_show(sub: Any) -> None:
    parser = _parser(
        sub, "show", "Print what a recipe script declares.",
        "runspec show examples/hello/train.py --json",
    )  # fmt: skip
    parser.add_argument("script", help="recipe script with a '# /// script' block")
    parser.add_argument("--json", action="store_true", help="print the parse as JSON")
    parser.set_defaults(handler=_cmd_show)


def _cmd_show(args: argparse.Namespace) -> int:
    from . import spec
    from .report import render_summary

    recipe = spec.parse(args.script)
    if args.json:
        _print_json(recipe.to_dict())
    else:
        print(render_summary(recipe), end="")
    for problem in spec.check(args.script):
        print(f"runspec: {problem}", file=sys.stderr)
    return 0


# check ----------------------------------------------------------------------


def _add_check(sub: Any) -> None:
    parser = _parser(
        sub, "check", "Validate recipe scripts and report every problem.",
        "runspec check examples/ --strict",
    )  # fmt: skip
    parser.add_argument("paths", nargs="+", metavar="PATH", help="scripts, or folders to search")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from . import script, spec
    from .report import problems_json, render_report

    _require_paths(args.paths)
    files = list(script.find_scripts(args.paths))
    problems = [problem for path in files for problem in spec.check(path)]
    if args.json:
        _print_json(problems_json(problems, len(files)))
    else:
        print(render_report(problems, len(files)), end="")
    failing = {"error", "warning"} if args.strict else {"error"}
    return 1 if any(problem.severity in failing for problem in problems) else 0


def _require_paths(paths: Sequence[str]) -> None:
    import os

    for path in paths:
        if not os.path.exists(path):
            raise RunspecError("no such file or folder", path=path)


# list -----------------------------------------------------------------------


def _add_list(sub: Any) -> None:
    parser = _parser(
        sub, "list", "List the recipes under folders, sorted by name.",
        "runspec list examples/",
    )  # fmt: skip
    parser.add_argument("dirs", nargs="*", default=["."], metavar="DIR", help="default: .")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    from . import script, spec
    from .report import render_table

    _require_paths(args.dirs)
    recipes = []
    for path in script.find_scripts(args.dirs):
        try:
            recipes.append(spec.parse(path))
        except RunspecError as exc:
            _warn(str(exc))
    recipes.sort(key=lambda recipe: (str(recipe.name), str(recipe.script_path)))
    if args.json:
        _print_json([recipe.to_dict() for recipe in recipes])
    else:
        print(render_table(recipes), end="")
    return 0


# main -----------------------------------------------------------------------

_COMMANDS = (_add_show, _add_check, _add_list)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="runspec",
        description="Read, check and run self-describing recipe scripts.",
        epilog="Run 'runspec COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"runspec {__version__}")
        return 0
    handler: _Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    try:
        return _dispatch(argv)
    except RunspecError as exc:
        print(f"runspec: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _silence_stdout() -> None:
    """After the reader of stdout went away, keep interpreter shutdown from failing on flush."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
