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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import RunspecError

__all__ = ["main"]

_Handler = Callable[[argparse.Namespace], int]


def _help_width() -> int:
    """The width argparse gives help text: ``$COLUMNS``, else the terminal's, else 80; less 2.

    The same rule as ``shutil.get_terminal_size``, without importing ``shutil``, which
    brings the compression modules into every start of the command.
    """
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
            columns = 0
    return (columns or 80) - 2


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized by :func:`_help_width`."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
        width: int | None = None,
    ) -> None:  # fmt: skip
        width = _help_width() if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _RawDescriptionFormatter(argparse.RawDescriptionHelpFormatter, _HelpFormatter):
    """Descriptions and examples printed as written, sized by :func:`_help_width`."""


def _parser(sub: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="example:\n  " + example.replace("\n", "\n  "),
        formatter_class=_RawDescriptionFormatter,
    )
    return parser


def _print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2, ensure_ascii=False, default=_json_text))


def _json_text(value: object) -> str:
    """Lenient parsing keeps TOML dates and times, which JSON lacks: ISO 8601 text."""
    from .._merge import iso_text  # only when such a value is printed

    return str(iso_text(value))


def _add_show_secrets(parser: argparse.ArgumentParser, what: str = "") -> None:
    parser.add_argument(
        "--show-secrets", action="store_true",
        help=f"print secret values in clear{what} (masked as ******** otherwise)",
    )  # fmt: skip


_SCRIPT_HELP = "a recipe script (a path), or a recipe's name (nano3/pretrain)"


def script_of(word: str) -> str:
    """A SCRIPT argument: a path, or a recipe's name looked up under the project root
    (``nano3/pretrain``; see :mod:`runspec.names`)."""
    import os

    if word.endswith(".py") or os.path.isfile(word):
        return word
    from ..names import resolve

    return resolve(word)


def _warn(message: str) -> None:
    print(f"runspec: warning: {message}", file=sys.stderr)


# show -----------------------------------------------------------------------


def _add_show(sub: Any) -> None:
    parser = _parser(
        sub, "show", "Print what a recipe script declares.",
        "runspec show examples/hello/train.py --json",
    )  # fmt: skip
    parser.add_argument("script", help=_SCRIPT_HELP)
    parser.add_argument("--json", action="store_true", help="print the parse as JSON")
    _add_show_secrets(parser)
    parser.set_defaults(handler=_cmd_show)


def _cmd_show(args: argparse.Namespace) -> int:
    from .. import declaration

    recipe, problems = declaration.inspect(script_of(args.script))
    if not args.show_secrets:
        from .._masking import masked_tree

        recipe["env"] = masked_tree(recipe["env"])
    if args.json:
        _print_json(recipe)
    else:
        from ..report import render_summary

        print(render_summary(recipe), end="")
    for problem in problems:
        print(f"runspec: {problem}", file=sys.stderr)
    return 0


# check ----------------------------------------------------------------------


def _add_check(sub: Any) -> None:
    parser = _parser(
        sub, "check", "Validate recipe scripts and report every problem.",
        "runspec check examples/ --strict",
    )  # fmt: skip
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="scripts or recipe names, or folders to search"
    )
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    import os

    from .. import declaration, discovery
    from ..report import problems_json, render_report

    paths = [path if os.path.exists(path) else script_of(path) for path in args.paths]
    _require_paths(paths)
    files = list(discovery.scripts(paths))
    if not files:  # a wrong path in CI must not pass
        raise RunspecError(f"no recipes found under {', '.join(map(str, args.paths))}")
    problems = [problem for path in files for problem in declaration.check(path)]
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
    from .. import discovery

    _require_paths(args.dirs)
    found = discovery.survey(args.dirs)
    for problem in found.problems:
        _warn(problem)
    recipes = [entry.description for entry in found.recipes]
    if args.json:
        _print_json(recipes)
    else:
        from ..report import render_table

        print(render_table(recipes), end="")
    return 0


# env ------------------------------------------------------------------------


def _add_env(sub: Any) -> None:
    parser = _parser(
        sub, "env", "List the env.toml profiles, or print one resolved.",
        "runspec env                 # the profiles and the file they come from\n"
        "runspec env dev --explain   # dev resolved, each key with the profile it came from",
    )  # fmt: skip
    parser.add_argument("name", nargs="?", metavar="PROFILE", help="the profile to resolve")
    parser.add_argument("--env-file", metavar="FILE", help="use this env.toml")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--explain", action="store_true", help="show where each key came from")
    parser.add_argument(
        "--check", action="store_true", help="check every profile; warn on unknown keys"
    )
    _add_show_secrets(parser)
    parser.description = f"{parser.description}\n\n{_ENV_FILE_SEARCH}"
    parser.set_defaults(handler=_cmd_env)


_ENV_FILE_SEARCH = """\
env.toml is looked for in this order: --env-file FILE; $RUNSPEC_ENV_FILE; env.toml
in the current folder or a parent, up to the project root (a folder holding
pyproject.toml or .git); $XDG_CONFIG_HOME/runspec/env.toml, else
~/.config/runspec/env.toml."""


def _cmd_env(args: argparse.Namespace) -> int:
    from .. import profiles
    from ..report import render_report

    path = profiles.find_env_file(args.env_file)
    if path is None:
        if args.name:
            raise RunspecError(f"profile {args.name!r} asked for, but no env.toml was found")
        print("no env.toml found (see 'runspec env --help')")
        return 0
    envfile = profiles.EnvFile.load(path)
    if args.check:
        problems = profiles.check_env_file(envfile)
        print(render_report(problems, 1), end="")
        return 1 if any(problem.severity == "error" for problem in problems) else 0
    if args.name is None:
        if args.json:
            _print_json(profiles.listing_json(envfile))
        else:
            print(profiles.render_listing(envfile), end="")
        return 0
    profile = envfile.resolve(args.name)
    if not args.show_secrets:
        from dataclasses import replace
        from types import MappingProxyType

        from .._masking import masked_tree

        profile = replace(profile, values=MappingProxyType(masked_tree(profile.values)))
    if args.json:
        _print_json(profiles.profile_json(profile))
    else:
        print(profiles.render_profile(profile, explain=args.explain), end="")
    return 0


# config ---------------------------------------------------------------------


def _add_job_arguments(
    parser: argparse.ArgumentParser, overrides: bool = True, script: bool = True
) -> None:
    if script:
        parser.add_argument("script", help=_SCRIPT_HELP)
    parser.add_argument("-c", "--config", metavar="NAME|PATH", help="config name or file")
    parser.add_argument("-p", "--profile", metavar="PROFILE", help="env.toml profile")
    parser.add_argument("--env-file", metavar="FILE", help="use this env.toml")
    if overrides:
        parser.add_argument(
            "overrides", nargs="*", metavar="OVERRIDE",
            help="a.b=v (set), +a.b=v (add), ++a.b=v (add or set), ~a.b (delete)",
        )  # fmt: skip


def _add_config(sub: Any) -> None:
    parser = _parser(
        sub, "config", "Print the job config a recipe will receive.",
        "runspec config examples/hello/train.py -c tiny train.steps=50 --json",
    )  # fmt: skip
    _add_job_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the job config as JSON")
    parser.add_argument(
        "--explain", action="store_true",
        help="print the job's run.env, each key with where it came from",
    )  # fmt: skip
    parser.add_argument(
        "--resolve-artifacts", action="store_true",
        help="show ${art:...} references resolved in the registry (the artifacts extra)",
    )  # fmt: skip
    _add_show_secrets(parser)
    parser.set_defaults(handler=_cmd_config)


def _assemble(
    args: argparse.Namespace, profile_name: str | None, create: bool, said: set[str] | None = None
) -> Any:
    """Assemble the job of ``args`` and print its warnings (those not in ``said`` yet)."""
    from .. import job as jobs
    from .. import spec
    from ..run.executor import job_dir_for

    recipe = spec.load(script_of(args.script))
    envfile, profile = jobs.select_profile(profile_name, args.env_file)
    job = jobs.assemble(
        recipe, config=args.config, envfile=envfile, profile=profile,
        overrides=args.overrides,
        job_dir=job_dir_for(jobs.job_name(recipe), create=create, via=getattr(args, "via", None)),
    )  # fmt: skip
    for warning in job.warnings:
        if said is None or warning not in said:
            _warn(warning)
    if said is not None:
        said.update(job.warnings)
    return job


def _cmd_config(args: argparse.Namespace) -> int:
    from .._masking import masked_tree
    from ..job import config_text
    from ..report import render_tree

    job = _assemble(args, args.profile, create=False)
    config = _resolve_artifacts(job.config) if args.resolve_artifacts else job.config
    shown = config if args.show_secrets else masked_tree(config)
    if args.explain:
        return _explain(job, shown["run"]["env"], args.json)
    print(config_text(shown) if args.json else render_tree(shown), end="")
    return 0


def _resolve_artifacts(config: Any) -> Any:
    from .._extras import calling_extra, import_extra

    module = import_extra(
        "runspec_extras.artifacts.resolvers", "artifacts", "config --resolve-artifacts"
    )
    with calling_extra():
        return module.resolve_in_config(config)


def _explain(job: Any, env: Any, as_json: bool) -> int:
    from ..runenv import explain_json, render_explain

    if as_json:
        _print_json(explain_json(env, job.env_origins))
        return 0
    chain = " -> ".join(job.profile.chain) if job.profile else ""
    profile = f"profile {job.profile.name} ({chain})" if job.profile else "no profile"
    heading = f"run.env of {job.name}: config file {job.config_path}, {profile}"
    print(render_explain(env, job.env_origins, heading), end="")
    return 0


# run ------------------------------------------------------------------------


def _add_run(sub: Any) -> None:
    parser = _parser(
        sub, "run", "Run a recipe: here, or on the executor of a profile.",
        "runspec run examples/hello/train.py -c tiny train.lr=0.05\n"
        "runspec run train.py -p dev --dry-run -- --extra-arg",
    )  # fmt: skip
    add_run_options(parser)
    parser.set_defaults(handler=_cmd_run)


def add_run_options(parser: argparse.ArgumentParser, *, script: bool = True) -> None:
    """The options of ``runspec run`` (shared with the recipe commands of ``recipe_cli``)."""
    _add_job_arguments(parser, script=script)
    parser.add_argument("-r", "--run", dest="attached", metavar="PROFILE", help="alias: -p PROFILE")
    parser.add_argument(
        "-b", "--batch", dest="detached", metavar="PROFILE",
        help="submit with PROFILE and return at once (Slurm)",
    )  # fmt: skip
    parser.add_argument(
        "-d", "--dry-run", action="store_true", help="print what would run; write nothing"
    )
    parser.add_argument("--tree", action="store_true", help="with --dry-run: print it as a tree")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print it as JSON")
    _add_show_secrets(parser, " with --dry-run")
    _add_via(parser)


def _add_via(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--via", choices=("runspec", "nemo-run"),
        help="who runs a local or slurm job (default: the profile's launcher, else runspec)",
    )  # fmt: skip


def run_command(args: argparse.Namespace) -> int:
    """``runspec run`` with parsed arguments (also a recipe command of ``recipe_cli``)."""
    return _cmd_run(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from ..run import executor

    if (args.tree or args.json) and not args.dry_run:
        raise RunspecError("--tree and --json describe a dry run: add -d/--dry-run")
    names = [name for name in (args.profile, args.attached, args.detached) if name]
    if len(set(names)) > 1:
        raise RunspecError("give one profile: -p, -r/--run and -b/--batch name different ones")
    if args.detached:
        _refuse_a_local_batch(args.detached, args)
    job = _assemble(args, names[0] if names else None, create=not args.dry_run)
    options = executor.RunOptions(
        argv=tuple(sys.argv), args=tuple(args.script_args), detached=bool(args.detached),
        show_secrets=args.show_secrets, via=args.via,
    )  # fmt: skip
    if args.dry_run:
        _print_dry_run(job, options, args)
        return 0
    return executor.run(job, options)


def _refuse_a_local_batch(name: str, args: argparse.Namespace) -> None:
    """``-b PROFILE`` submits and returns: a profile that runs here cannot (checked before
    any job folder is made)."""
    from ..job import select_profile
    from ..run.executor import through_nemo_run

    _, profile = select_profile(name, args.env_file)
    if profile is None or profile.executor != "local" or through_nemo_run(profile.values, args.via):
        return
    raise RunspecError(
        f"-b/--batch submits a job and returns: profile {name!r} runs here "
        f"(executor 'local'); run it with -r {name}"
    )


def _print_dry_run(job: Any, options: Any, args: argparse.Namespace) -> None:
    """The job config and command as text (default), or the whole plan as a tree or JSON."""
    from ..run import executor

    if not (args.tree or args.json):
        print(executor.dry_run(job, options), end="")
        return
    from ..run.plan import plan
    from .display import render_plan, style_for

    data = plan(job, options)
    if args.json:
        _print_json(data)
    else:
        print(render_plan(data, style_for(sys.stdout)), end="")


# pipe -----------------------------------------------------------------------


def _add_pipe(sub: Any) -> None:
    parser = _parser(
        sub, "pipe", "Run recipes joined by pipes: each step's stdout feeds the next's stdin.",
        "runspec pipe --prefix examples/pipe/generate.py -c small + "
        "examples/pipe/upper.py + examples/pipe/count.py\n"
        "(a STEP is: SCRIPT [-c CONFIG] [OVERRIDE...] [-- ARGS...]; steps are separated by '+')",
    )  # fmt: skip
    parser.add_argument(
        "-p", "--profile", metavar="PROFILE", help="env.toml profile for every step"
    )
    parser.add_argument("--env-file", metavar="FILE", help="use this env.toml")
    parser.add_argument(
        "--prefix", action="store_true", help="prefix each stderr line with its step"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the pipeline; write nothing")
    _add_show_secrets(parser, " with --dry-run")
    parser.add_argument("steps", nargs=argparse.REMAINDER, metavar="STEP [+ STEP ...]")
    parser.set_defaults(handler=_cmd_pipe)


def _cmd_pipe(args: argparse.Namespace) -> int:
    from ..job import discard_dir
    from ..run import executor

    steps = executor.parse_steps(args.steps)
    jobs: list[Any] = []
    said: set[str] = set()  # the steps share a profile: say each warning once
    try:
        for step in steps:
            namespace = argparse.Namespace(**vars(step), env_file=args.env_file)
            jobs.append(_assemble(namespace, args.profile, not args.dry_run, said))
    except BaseException:
        for job in jobs:
            discard_dir(job.dir)  # the steps already assembled will not run
        raise
    options = executor.RunOptions(
        argv=tuple(sys.argv), prefix=args.prefix, show_secrets=args.show_secrets
    )
    step_args = [tuple(step.script_args) for step in steps]
    if args.dry_run:
        print(executor.dry_run_pipe(jobs, step_args, options), end="")
        return 0
    return executor.run_pipe(jobs, step_args, options)


# slurm ----------------------------------------------------------------------


def _slurm_job(args: argparse.Namespace, *, submitting: bool) -> tuple[Any, Any]:
    """Assemble the job and render its batch script (a :class:`~runspec.slurm.cluster.Submission`).

    Submitting creates the (empty) job folder, and removes it again when rendering
    refuses the job; printing only plans the folder.
    """
    from ..slurm.cluster import prepare
    from ..slurm.follow import _drop_empty

    job = _assemble(args, args.profile, create=submitting)
    try:
        executor = job.executor
        if executor != "slurm":
            message = f"profile {args.profile!r} has executor {executor!r}, not 'slurm'"
            if submitting:
                raise RunspecError(message, key="run.env.executor")
            _warn(message)
        sub = prepare(
            job, args=args.script_args, submitting=submitting,
            after=getattr(args, "after", ()),
            dependency_type=getattr(args, "dependency_type", "afterok"),
        )  # fmt: skip
    except BaseException:
        if submitting:
            _drop_empty(job.dir, job.env)
        raise
    for warning in sub.script.warnings:
        _warn(warning)
    return job, sub


def _add_sbatch(sub: Any) -> None:
    parser = _parser(
        sub, "sbatch", "Print the Slurm batch script of a recipe and profile (secrets masked).",
        "runspec sbatch train.py -p cluster -c tiny train.steps=10 -o job.sh -- --seed 1",
    )  # fmt: skip
    _add_job_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write the script (unmasked) here")
    _add_show_secrets(parser)
    parser.set_defaults(handler=_cmd_sbatch)


def _cmd_sbatch(args: argparse.Namespace) -> int:
    from .._files import write_atomic

    _require_profile(args)
    _, sub = _slurm_job(args, submitting=False)
    script = sub.script
    if args.output:
        try:
            write_atomic(args.output, script.text, script.mode)
        except OSError as exc:
            message = f"cannot write the batch script: {exc.strerror}"
            raise RunspecError(message, path=args.output) from None
    else:
        print(script.text if args.show_secrets else script.masked, end="")
    return 0


def _require_profile(args: argparse.Namespace) -> None:
    if not args.profile:
        raise RunspecError(f"{args.command} needs a Slurm profile: -p PROFILE")


def _add_submit(sub: Any) -> None:
    parser = _parser(
        sub, "submit", "Submit a recipe as a Slurm batch job and print its job id.",
        "runspec submit train.py -p cluster --after 1234 --dependency-type afterany --wait",
    )  # fmt: skip
    _add_job_arguments(parser)
    parser.add_argument(
        "--after", nargs="+", default=[], metavar="JOBID", help="start after these jobs"
    )
    parser.add_argument(
        "--dependency-type", default="afterok", metavar="TYPE",
        help="afterok (default: after success), afterany or afternotok",
    )  # fmt: skip
    parser.add_argument(
        "--test-only", action="store_true", help="let sbatch validate; queue nothing"
    )
    parser.add_argument("--wait", action="store_true", help="follow the job; exit with its code")
    _add_via(parser)
    parser.set_defaults(handler=_cmd_submit)


def _cmd_submit(args: argparse.Namespace) -> int:
    from ..slurm.cluster import require_sbatch, send

    _require_profile(args)
    if _through_nemo_run(args):
        return _submit_through_nemo_run(args)
    if not _over_ssh(args):
        require_sbatch()
    _, sub = _slurm_job(args, submitting=True)
    answer = send(sub, argv=tuple(sys.argv), test_only=args.test_only)
    print(answer, flush=True)
    if args.test_only or not args.wait:
        return 0
    return _wait_for(sub, answer)


def _over_ssh(args: argparse.Namespace) -> bool:
    """Whether the profile submits over ssh (then the cluster, not this machine, needs sbatch)."""
    from ..job import select_profile

    _, profile = select_profile(args.profile, args.env_file)
    return profile is not None and profile.values.get("tunnel") == "ssh"


def _wait_for(sub: Any, job_id: str) -> int:
    """``submit --wait``: the state while waiting, then the tail of the output; Ctrl-C
    leaves the job running."""
    from ..slurm.cluster import output_files, wait
    from ..slurm.follow import Progress, interrupted

    transport = sub.transport
    progress = Progress(job_id)
    try:
        code = wait(job_id, on_poll=progress.poll, runner=transport.run, host=transport.host)
    except KeyboardInterrupt:
        progress.settle()
        return interrupted(transport, job_id, cancelling=False)
    files = output_files(sub.folder, sub.name, job_id)
    tails = transport.read([(path, -_TAIL_BYTES) for path in files])
    for data, stream in zip(tails, (sys.stdout, sys.stderr), strict=True):
        if data:
            stream.write(_last_lines(data))
            stream.flush()
    progress.ended(code)
    return code


_TAIL_BYTES = 64 * 1024


def _last_lines(data: bytes, count: int = 20) -> str:
    text = data.decode("utf-8", errors="replace")
    return "".join(text.splitlines(keepends=True)[-count:])


def _through_nemo_run(args: argparse.Namespace) -> bool:
    """Whether the profile (or ``--via``) sends this submission through nemo-run; decided
    on the resolved profile, before any job folder is made."""
    from ..job import select_profile
    from ..run.executor import through_nemo_run

    _, profile = select_profile(args.profile, args.env_file)
    return profile is not None and through_nemo_run(profile.values, args.via)


def _submit_through_nemo_run(args: argparse.Namespace) -> int:
    """``submit`` as a detached nemo-run job: prints nemo-run's handle of it."""
    from ..run import executor

    for flag, used in (("--after", args.after), ("--test-only", args.test_only),
                       ("--wait", args.wait)):  # fmt: skip
        if used:
            raise RunspecError(f"submit {flag}: not available for jobs that run through nemo-run")
    job = _assemble(args, args.profile, create=True)
    options = executor.RunOptions(
        argv=tuple(sys.argv), args=tuple(args.script_args), detached=True, via=args.via
    )
    return executor.run(job, options)


def _note(message: str) -> None:
    print(f"runspec: {message}", file=sys.stderr, flush=True)


def _add_status(sub: Any) -> None:
    parser = _parser(
        sub, "status", "Show Slurm jobs' state (scontrol, else sacct, else squeue).",
        "runspec status 1234 1235 --json",
    )  # fmt: skip
    parser.add_argument("ids", nargs="+", metavar="JOBID", help="Slurm job ids")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    from ..slurm.cluster import render_status, status
    from ..slurm.records import Finder

    finder = Finder()
    rows = []
    for job_id in args.ids:
        _, transport = finder(job_id)
        rows += status([job_id], runner=transport.run, host=transport.host)
    if args.json:
        _print_json(rows)
    else:
        print(render_status(rows), end="")
    return 0


def _add_cancel(sub: Any) -> None:
    parser = _parser(sub, "cancel", "Cancel Slurm jobs (scancel).", "runspec cancel 1234 1235")
    parser.add_argument("ids", nargs="+", metavar="JOBID", help="Slurm job ids")
    parser.set_defaults(handler=_cmd_cancel)


def _cmd_cancel(args: argparse.Namespace) -> int:
    from ..slurm.cluster import cancel
    from ..slurm.records import Finder

    finder = Finder()
    for job_id in args.ids:
        _, transport = finder(job_id)
        left = cancel([job_id], transport.run, transport.host)
        if job_id in left:
            _note(f"job {job_id} was not cancelled: {left[job_id]}")
        else:
            _note(f"cancelled job {job_id}")
    return 0


# artifacts ------------------------------------------------------------------


def _add_artifacts(sub: Any) -> None:
    summary = "Versioned artifacts: list, show, publish, get, alias, lineage (artifacts extra)."
    # no -h here: 'runspec artifacts --help' is answered by the extra's own parser
    parser = sub.add_parser("artifacts", help=summary, description=summary, add_help=False)
    parser.add_argument("words", nargs="*", metavar="COMMAND ...")
    parser.set_defaults(handler=lambda args: _cmd_artifacts(args.words))


def _cmd_artifacts(words: list[str]) -> int:
    """Hand ``runspec artifacts WORDS`` to the extra, which parses its own command line."""
    from .._extras import calling_extra, import_extra

    module = import_extra("runspec_extras.artifacts.cli", "artifacts", "runspec artifacts")
    with calling_extra():
        code: int = module.main(words)
    return code


# logs -----------------------------------------------------------------------


def _add_logs(sub: Any) -> None:
    parser = _parser(
        sub, "logs", "Print a job's output, or follow it until the job ends (-f).",
        "runspec logs             # the newest job's output: stdout, then stderr\n"
        "runspec logs 1234 -f     # follow Slurm job 1234 (reattach): exits with its exit code\n"
        "runspec logs 20261129-170000-examples-hello   # a local run, by its id in 'runspec jobs'",
    )  # fmt: skip
    parser.add_argument(
        "id", nargs="?", metavar="JOB",
        help="a Slurm job id, or a local job's id or folder (default: the newest job)",
    )  # fmt: skip
    parser.add_argument("-f", "--follow", action="store_true", help="follow until the job ends")
    parser.set_defaults(handler=_cmd_logs)


def _cmd_logs(args: argparse.Namespace) -> int:
    from ..slurm.follow import Progress, follow
    from ..slurm.records import Finder
    from .jobs import local_logs, newest_job

    if args.id is None:
        args.id = newest_job()
    if not args.id.isdigit():
        return local_logs(args.id, follow=args.follow)
    record, transport = Finder()(args.id)
    files = _output_of(args.id, record, transport)
    if not args.follow:
        found = transport.read([(path, 0) for path in files])
        for data, stream in zip(found, (sys.stdout, sys.stderr), strict=True):
            if data:
                stream.flush()
                stream.buffer.write(data)
                stream.buffer.flush()
        if found == [None, None]:
            _note(f"job {args.id} has no output yet")
        return 0
    progress = Progress(args.id, since=record.submitted if record else None)
    try:
        code = follow(args.id, files, transport=transport, progress=progress)
    except KeyboardInterrupt:
        progress.settle()
        _note(f"stopped following job {args.id}; it keeps running")
        return 130
    progress.ended(code)
    return code


def _output_of(job_id: str, record: Any, transport: Any) -> Any:
    """The job's output files: from its record, else from Slurm (a job of this cluster)."""
    from pathlib import PurePath

    from ..slurm.cluster import query

    if record is not None and record.output is not None:
        return record.output
    found = query(job_id, transport.run, transport.host)
    if not found["stdout"]:
        raise RunspecError(
            f"job {job_id}: no record of it under ~/.runspec/jobs, and Slurm does not say "
            "where its output is"
        )
    return PurePath(found["stdout"]), PurePath(found["stderr"] or found["stdout"])


# jobs -----------------------------------------------------------------------


def _add_jobs(sub: Any) -> None:
    parser = _parser(
        sub, "jobs", "List recent jobs: local runs and Slurm jobs, newest first.",
        "runspec jobs -n 5\nrunspec jobs --json",
    )  # fmt: skip
    parser.add_argument("-n", type=int, default=20, metavar="N", help="how many (default: 20)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=_cmd_jobs)


def _cmd_jobs(args: argparse.Namespace) -> int:
    from ..history import recent
    from .display import render_jobs, style_for

    if args.n < 1:
        raise RunspecError(f"-n must be at least 1 (got {args.n})")
    entries = recent(args.n)
    if args.json:
        _print_json([entry.to_dict() for entry in entries])
    elif entries:
        print(render_jobs(entries, style_for(sys.stdout)), end="")
    else:
        print("no jobs yet (runspec keeps their records under .runspec/jobs and ~/.runspec/jobs)")
    return 0


# squash ---------------------------------------------------------------------


def _add_squash(sub: Any) -> None:
    parser = _parser(
        sub, "squash", "Squash a container image into an enroot .sqsh file, as a Slurm job.",
        "runspec squash nvcr.io/nvidia/nemo:25.11 -p cluster\n"
        "runspec squash nvcr.io/nvidia/nemo:25.11 -p cluster --dry-run   # the batch script",
    )  # fmt: skip
    parser.add_argument("image", metavar="IMAGE", help="a registry image (nvcr.io/nvidia/nemo:25)")
    parser.add_argument("-p", "--profile", required=True, metavar="PROFILE", help="a Slurm profile")
    parser.add_argument("--env-file", metavar="FILE", help="use this env.toml")
    parser.add_argument("--force", action="store_true", help="squash again when the file exists")
    parser.add_argument("-d", "--dry-run", action="store_true", help="print the batch script")
    _add_show_secrets(parser, " in the batch script")
    parser.set_defaults(handler=_cmd_squash)


def _cmd_squash(args: argparse.Namespace) -> int:
    from ..job import select_profile
    from ..slurm.images import exists, plan_squash, submit_squash

    envfile, profile = select_profile(args.profile, args.env_file)
    assert envfile is not None and profile is not None
    squash, transport, _ = plan_squash(
        args.image, envfile, profile, force=args.force, create=False
    )
    if args.dry_run:
        shown = squash.script if args.show_secrets else squash.masked
        print(f"# {squash.target}\n{shown}", end="")
        return 0
    if not args.force and exists(transport, squash.target):
        _note(f"{squash.target} exists already; --force squashes {args.image} again")
        return 0
    squash, transport, _ = plan_squash(args.image, envfile, profile, force=args.force, create=True)
    job_id = submit_squash(squash, transport, profile=profile.name, argv=list(sys.argv))
    print(job_id, flush=True)
    _note(f"squashing {args.image} into {squash.target} as job {job_id}; "
          f"follow it with 'runspec logs {job_id} -f'")  # fmt: skip
    return 0


# main -----------------------------------------------------------------------

_COMMANDS = (
    _add_show, _add_check, _add_list, _add_env, _add_config, _add_run, _add_pipe,
    _add_sbatch, _add_submit, _add_status, _add_cancel, _add_logs, _add_artifacts,
    _add_jobs, _add_squash,
)  # fmt: skip


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser: with every subcommand, or only ``command`` if it is one.

    Building one subcommand instead of all keeps the start of a command cheap.
    """
    adders = {add.__name__.removeprefix("_add_"): add for add in _COMMANDS}
    chosen = [adders[command]] if command in adders else list(adders.values())
    parser = argparse.ArgumentParser(
        prog="runspec",
        description="Read, check and run self-describing recipe scripts.",
        epilog="Run 'runspec COMMAND --help' for a command's options and an example.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in chosen:
        add(sub)
    return parser


_SCRIPT_ARG_COMMANDS = frozenset({"run", "sbatch", "submit"})
_AFTER_SEPARATOR = "the recipe's own arguments go after '--'"


def _command_names() -> list[str]:
    return [add.__name__.removeprefix("_add_") for add in _COMMANDS]


def _unknown_command(command: str) -> str:
    import difflib

    names = _command_names()
    close = difflib.get_close_matches(command, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "commands: " + ", ".join(names)
    return f"unknown command {command!r} ({hint})"


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of subcommand ``command`` (``parser`` itself when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            chosen: argparse.ArgumentParser = action.choices[command]
            return chosen
    return parser


def _unrecognized(
    parser: argparse.ArgumentParser, command: str | None, words: list[str], extra: list[str]
) -> str:
    """argparse's message for unknown arguments, with a did-you-mean or a hint about ``--``."""
    import difflib

    message = f"unrecognized arguments: {' '.join(extra)}"
    options = list(_subparser(parser, command)._option_string_actions)
    for word in extra:
        close = difflib.get_close_matches(word.partition("=")[0], options, n=1, cutoff=0.75)
        if word.startswith("-") and close:
            return f"{message} (did you mean {close[0]!r}?)"
    first = next((word for word in extra if word.startswith("-")), None)
    if command in _SCRIPT_ARG_COMMANDS and first is not None:
        return f"{message} ({_AFTER_SEPARATOR}: {_moved_after_separator(words, first)})"
    return message


def _moved_after_separator(words: list[str], first: str) -> str:
    """The command line with ``--`` put before ``first`` (as one would type it)."""
    import shlex

    cut = words.index(first)
    return shlex.join(["runspec", *words[:cut], "--", *words[cut:]])


def _refuse_bare_words(
    parser: argparse.ArgumentParser, words: list[str], overrides: Sequence[str]
) -> None:
    """A word that is no option and no ``key=value``/``~key`` is a recipe argument put
    before ``--``: say where it goes."""
    for word in overrides:
        if "=" not in word and not word.startswith("~"):
            where = _moved_after_separator(words, word)
            parser.error(
                f"{word!r} is neither an option nor an override (key=value); "
                f"{_AFTER_SEPARATOR}: {where}"
            )


def _split_script_args(words: list[str], command: str | None) -> tuple[list[str], list[str]]:
    """Cut ``-- ARGS...`` (the recipe's own arguments) off a run/sbatch/submit command line."""
    if command in _SCRIPT_ARG_COMMANDS and "--" in words:
        cut = words.index("--")
        return words[:cut], words[cut + 1 :]
    return words, []


def _dispatch(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in words if not word.startswith("-")), None)
    if command == "artifacts":
        return _cmd_artifacts(words[words.index(command) + 1 :])
    parser = build_parser(command)
    if command is not None and command not in _command_names():
        parser.error(_unknown_command(command))
    words, script_args = _split_script_args(words, command)
    args, extra = parser.parse_known_args(words)
    if extra and (not hasattr(args, "overrides") or any(w.startswith("-") for w in extra)):
        _subparser(parser, command).error(_unrecognized(parser, command, words, extra))
    if extra:
        # argparse ends a positional list at the first option: overrides given after
        # options (``-c tiny a=1``) arrive here and belong to the same list.
        args.overrides = [*args.overrides, *extra]
    if command in _SCRIPT_ARG_COMMANDS:
        _refuse_bare_words(_subparser(parser, command), words, args.overrides)
    args.script_args = script_args
    if args.version:
        from .. import __version__

        print(f"runspec {__version__}")
        return 0
    handler: _Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return handler(args)


@contextmanager
def _argparse_words_as_written() -> Iterator[None]:
    """Let argparse use its own English words without looking each one up in gettext.

    Every lookup imports ``locale`` on first use and tests for a catalogue file per
    language of the environment: about 30 file-system calls on every start, for
    catalogues Python does not ship (runspec's own help is English). The names are
    restored afterwards, so other users of argparse in the process are unaffected.
    """
    names = vars(argparse)
    saved: dict[str, Any] = {name: names[name] for name in ("_", "ngettext") if name in names}
    names["_"] = lambda message: message
    names["ngettext"] = lambda singular, plural, count: singular if count == 1 else plural
    try:
        yield
    finally:
        names.update(saved)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    return guarded(lambda: _dispatch(argv))


def guarded(command: Callable[[], int], prog: str = "runspec") -> int:
    """Run ``command`` as every runspec command line runs: a runspec error is one line
    ``PROG: error: ...`` and exit code 1, Ctrl-C 130, a closed stdout 0, usage errors 2."""
    try:
        with _argparse_words_as_written():
            return command()
    except RunspecError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except OSError as exc:  # a fault of the system (no space, too many files): one line too
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """After the reader of stdout went away, keep interpreter shutdown from failing on flush."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
