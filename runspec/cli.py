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

    print(json.dumps(data, indent=2, ensure_ascii=False))


def _warn(message: str) -> None:
    print(f"runspec: warning: {message}", file=sys.stderr)


# show -----------------------------------------------------------------------


def _add_show(sub: Any) -> None:
    parser = _parser(
        sub, "show", "Print what a recipe script declares.",
        "runspec show examples/hello/hello.py --json",
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
    recipes.sort(key=lambda recipe: (recipe.name, str(recipe.script_path)))
    if args.json:
        _print_json([recipe.to_dict() for recipe in recipes])
    else:
        print(render_table(recipes), end="")
    return 0


# slurm ----------------------------------------------------------------------


def _add_recipe_options(parser: argparse.ArgumentParser) -> None:
    """SCRIPT -p PROFILE [-c CONFIG] [OVERRIDE...] [-- ARGS...], shared by sbatch and submit."""
    parser.add_argument("script", help="recipe script with a '# /// script' block")
    parser.add_argument("-p", "--profile", required=True, help="env.toml profile (a Slurm one)")
    parser.add_argument("-c", "--config", help="config name in the recipe's folder, or a path")
    parser.add_argument("--env-file", help="env.toml to use (default: searched for)")
    parser.add_argument(
        "overrides", nargs="*", metavar="OVERRIDE", help="key=value, +key=value, ~key"
    )
    parser.set_defaults(takes_args=True)


def _slurm_job(args: argparse.Namespace, *, submitting: bool) -> tuple[Any, Any]:
    """Assemble the job (its folder planned, not created) and render its batch script."""
    from . import spec
    from .batch import default_python, find_repo, job_folder
    from .job import assemble, job_name, select_profile, timestamp
    from .slurm import render_sbatch

    recipe = spec.load(args.script)
    envfile, profile = select_profile(args.profile, args.env_file)
    executor = profile.values.get("executor", "slurm") if profile else "slurm"
    if executor != "slurm":
        message = f"profile {args.profile!r} has executor {executor!r}, not 'slurm'"
        if submitting:
            raise RunspecError(message, key="run.env.executor")
        _warn(message)
    name, stamp = job_name(recipe), timestamp()
    job = assemble(
        recipe, config=args.config, envfile=envfile, profile=profile,
        overrides=args.overrides, job_dir=lambda env: job_folder(env, name, stamp),
    )  # fmt: skip
    script = render_sbatch(
        job, args=args.extra_args, after=getattr(args, "after", ()) or (),
        dependency_type=getattr(args, "dependency_type", "afterok"),
        python=default_python(job), repo=find_repo(recipe.script_path),
    )  # fmt: skip
    for warning in script.warnings:
        _warn(warning)
    return job, script


def _add_sbatch(sub: Any) -> None:
    parser = _parser(
        sub, "sbatch", "Print the Slurm batch script of a recipe and profile (secrets masked).",
        "runspec sbatch train.py -p cluster -c tiny trainer.max_steps=10 -- --seed 1",
    )  # fmt: skip
    _add_recipe_options(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write the script (unmasked) here")
    parser.set_defaults(handler=_cmd_sbatch)


def _cmd_sbatch(args: argparse.Namespace) -> int:
    from ._files import write_atomic

    _, script = _slurm_job(args, submitting=False)
    if args.output:
        write_atomic(args.output, script.text, script.mode)
    else:
        print(script.masked, end="")
    return 0


def _add_submit(sub: Any) -> None:
    parser = _parser(
        sub, "submit", "Submit a recipe as a Slurm batch job and print its job id.",
        "runspec submit train.py -p cluster --after 1234 --dependency-type afterany --wait",
    )  # fmt: skip
    _add_recipe_options(parser)
    parser.add_argument(
        "--after", nargs="+", default=[], metavar="JOBID", help="run after these jobs"
    )
    parser.add_argument(
        "--dependency-type", default="afterok", metavar="TYPE",
        help="afterok (default), afterany or afternotok",
    )  # fmt: skip
    parser.add_argument(
        "--test-only", action="store_true", help="let sbatch validate, queue nothing"
    )
    parser.add_argument("--wait", action="store_true", help="follow the job; exit with its code")
    parser.set_defaults(handler=_cmd_submit)


def _cmd_submit(args: argparse.Namespace) -> int:
    from .batch import output_files, require_sbatch, submit, tail, wait

    require_sbatch()
    job, script = _slurm_job(args, submitting=True)
    argv = ["runspec", *args.raw_argv]
    answer = submit(job, script, argv=argv, test_only=args.test_only)
    print(answer)
    if args.test_only or not args.wait:
        return 0
    code = wait(answer, on_state=lambda state: _note(f"job {answer}: {state}"))
    out, err = output_files(job.dir, job.name, answer)
    print(tail(out), end="", flush=True)
    print(tail(err), end="", file=sys.stderr)
    _note(f"job {answer} exited with code {code}")
    return code


def _note(message: str) -> None:
    print(f"runspec: {message}", file=sys.stderr, flush=True)


def _add_status(sub: Any) -> None:
    parser = _parser(
        sub, "status", "Show the state of Slurm jobs (scontrol, else sacct, else squeue).",
        "runspec status 1234 1235 --json",
    )  # fmt: skip
    parser.add_argument("ids", nargs="+", metavar="JOBID", help="Slurm job ids")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    from .batch import status

    rows = status(args.ids)
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'JOBID':<10} {'STATE':<12} {'EXIT':>4}  {'NAME':<24} NODES/REASON")
    for row in rows:
        code = "" if row["exit_code"] is None else str(row["exit_code"])
        where = row["nodes"] if row["nodes"] not in ("", "(null)") else row["reason"]
        print(f"{row['job_id']:<10} {row['state']:<12} {code:>4}  {row['name']:<24} {where}")
    return 0


def _add_cancel(sub: Any) -> None:
    parser = _parser(sub, "cancel", "Cancel Slurm jobs (scancel).", "runspec cancel 1234 1235")
    parser.add_argument("ids", nargs="+", metavar="JOBID", help="Slurm job ids")
    parser.set_defaults(handler=_cmd_cancel)


def _cmd_cancel(args: argparse.Namespace) -> int:
    from .batch import cancel

    cancel(args.ids)
    _note("cancelled " + " ".join(args.ids))
    return 0


# main -----------------------------------------------------------------------

_COMMANDS = (
    _add_show, _add_check, _add_list, _add_sbatch, _add_submit, _add_status, _add_cancel,
)


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
    words = list(sys.argv[1:] if argv is None else argv)
    # Arguments after the first `--` go to the recipe, not to runspec's parser.
    extra = words[words.index("--") + 1 :] if "--" in words else []
    options = words[: words.index("--")] if "--" in words else words
    args, unknown = parser.parse_known_args(options)
    takes_args = getattr(args, "takes_args", False)
    # argparse stops filling OVERRIDE... at the first option; later overrides come back unknown.
    if unknown and (not takes_args or any(word.startswith("-") for word in unknown)):
        parser.error("unrecognized arguments: " + " ".join(unknown))
    if unknown:
        args.overrides = [*args.overrides, *unknown]
    if extra and not takes_args:
        parser.error("unrecognized arguments after '--': " + " ".join(extra))
    args.extra_args, args.raw_argv = extra, words
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
