"""Where jobs run: dispatch on the profile's ``executor`` and ``launcher``.

``local`` (the default) and ``slurm`` are built in. The other executors belong to the
nemo-run extra (``runspec_extras.nemo_run_executors``), and so does a ``local`` or
``slurm`` job whose profile says ``launcher = "nemo-run"`` (or ``--via nemo-run``).
While the extra is not installed, such a job is an error that names it; the extra is
imported only then, never at start-up.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._masking import masked, masked_tree
from ..errors import PipelineError, RunspecError
from ..job import Job, discard_dir, new_job_dir, probe_git, timestamp, write_record
from ..profiles import EXECUTORS

if TYPE_CHECKING:
    from .local import Launch
    from .pipeline.steps import PipelineResult

__all__ = [
    "CORE_EXECUTORS",
    "NEMO_RUN_EXECUTORS",
    "RunOptions",
    "StepArguments",
    "dry_run",
    "dry_run_pipe",
    "job_dir_for",
    "parse_steps",
    "run",
    "run_pipe",
    "through_nemo_run",
]

CORE_EXECUTORS = ("local", "slurm")
NEMO_RUN_EXECUTORS = tuple(name for name in EXECUTORS if name not in CORE_EXECUTORS)


@dataclass(frozen=True)
class RunOptions:
    """How a run was asked for: runspec's argv, the script's own arguments, and switches."""

    argv: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    detached: bool = False
    prefix: bool = False
    show_secrets: bool = False
    """Dry runs print secret values in clear."""
    via: str | None = None
    """``--via``: who runs the job (``runspec`` or ``nemo-run``); None: the profile says."""


@dataclass(frozen=True)
class StepArguments:
    """One step of ``runspec pipe``: ``SCRIPT [-c CONFIG] [OVERRIDE...] [-- ARGS...]``."""

    script: str
    config: str | None = None
    overrides: tuple[str, ...] = ()
    script_args: tuple[str, ...] = ()


def through_nemo_run(env: Mapping[str, Any], via: str | None = None) -> bool:
    """Whether a job with this ``run.env`` runs through nemo-run: its executor is one of
    nemo-run's, or ``via`` (else the profile's ``launcher``) is ``nemo-run``."""
    if str(env.get("executor", "local")) not in CORE_EXECUTORS:
        return True
    return (via or env.get("launcher")) == "nemo-run"


def extra_executor(name: str) -> ModuleType:
    """The extras' module that runs executor ``name`` through nemo-run, or one clear error:
    the extra or nemo-run is missing (install advice), or installed but broken (the real
    error; see :mod:`runspec._extras`)."""
    from .._extras import calling_extra, import_extra

    if name in CORE_EXECUTORS:
        purpose = f"running the {name} executor through nemo-run"
    else:
        purpose = f"executor {name!r}"
    package = import_extra("runspec_extras.nemo_run_executors", "nemo-run", purpose)
    with calling_extra():
        module: ModuleType = package.runner(purpose)
    return module


def job_dir_for(
    name: str, *, create: bool = True, via: str | None = None
) -> Callable[[Mapping[str, Any]], Path]:
    """The ``job_dir`` callable for :func:`runspec.job.assemble`, by executor.

    Local jobs, and every job that runs through nemo-run (whose own folders are nemo-run's
    business): ``<job_dir or PROJECT/.runspec/jobs>/<timestamp>-<name>/`` (PROJECT: see
    :mod:`runspec.project`). Slurm jobs:
    ``<job_dir or remote_job_dir or ~/.runspec/jobs>/<name>/<timestamp>/`` (over ssh a
    folder on the cluster, staged in ``~/.runspec/jobs/<name>/<timestamp>/`` here).
    """

    def make(env: Mapping[str, Any]) -> Path:
        executor = str(env.get("executor", "local"))
        nemo_run = through_nemo_run(env, via)
        if nemo_run:
            extra_executor(executor)  # a missing extra stops the job before its folder exists
        if executor == "slurm" and not nemo_run:
            from ..slurm.cluster import new_job_folder

            return new_job_folder(env, name, create=create)
        base = env.get("job_dir") or local_job_root()
        parent, leaf = Path(str(base)).expanduser().absolute(), f"{timestamp()}-{name}"
        return new_job_dir(parent, leaf) if create else parent / leaf

    return make


def local_job_root() -> Path:
    """Where local jobs go without a ``job_dir``: ``.runspec/jobs`` of the project."""
    from ..project import state_dir

    return state_dir() / "jobs"


def run(job: Job, options: RunOptions) -> int:
    """Run one job on its executor and return the exit code to leave with."""
    if through_nemo_run(job.env, options.via):
        from .._extras import calling_extra

        module = extra_executor(job.executor)
        with calling_extra():
            code: int = module.run(job, options)
        return code
    if job.executor == "local":
        return _run_local(job, options)
    from ..slurm.follow import run_slurm

    return run_slurm(job, argv=options.argv, args=options.args, detached=options.detached)


def _run_local(job: Job, options: RunOptions) -> int:
    from .local import run_local

    [launch] = _launchable([job], [options.args])
    probe_git(job.spec.script_path.parent)  # runs while the job starts; the record waits for it
    record = _LocalRecord.create(job, options.argv)
    try:
        result = run_local(job, launch, started=record.started)
    except RunspecError as exc:
        record.end(error=str(exc))
        raise
    record.end(exit_code=result.exit_code)
    if result.exit_code:
        print(f"runspec: {_single_failure(job, result)}", file=sys.stderr)
    return result.exit_code


@dataclass(frozen=True)
class _LocalRecord:
    """The ``runspec.json`` of a local job: written as it starts, and again when it ends
    with its exit code (or error), end time and duration."""

    job: Job
    argv: tuple[str, ...]
    fields: Mapping[str, Any]
    since: float
    """When the job started (``time.time()``)."""

    @classmethod
    def create(cls, job: Job, argv: Sequence[str]) -> _LocalRecord:
        """The record of a job that starts now: the machine, the time, its logs."""
        from .pipeline.taps import LOG_NAMES

        assert job.dir is not None
        out, err = (str(job.dir / name) for name in LOG_NAMES)
        fields = {
            "host": os.uname().nodename, "submitted": _now(),
            "output": {"stdout": out, "stderr": err},
        }  # fmt: skip
        return cls(job, tuple(argv), fields, time.time())

    def started(self) -> None:
        """Write the record once the job's process has started."""
        write_record(self.job, self.argv, job_id=str(os.getpid()), **self.fields)

    def end(self, **outcome: Any) -> None:
        """Write the record again, saying how the job ended; a job whose config could not
        be written never started, and leaves no folder (a record only beside its config)."""
        if not self.job.config_file.exists():
            discard_dir(self.job.dir)
            return
        duration = round(time.time() - self.since, 3)
        write_record(
            self.job, self.argv, str(os.getpid()), **self.fields, **outcome,
            ended=_now(), duration=duration,
        )  # fmt: skip


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _single_failure(job: Job, result: PipelineResult) -> str:
    """Say how a one-step run ended, naming the job rather than a pipeline step."""
    if result.failed is None:
        return result.describe()
    code = result.failed.returncode
    if code < 0:
        import signal

        return f"{job.name} was killed by {signal.Signals(-code).name}"
    return f"{job.name} failed with exit code {code}"


def dry_run(job: Job, options: RunOptions) -> str:
    """What ``run --dry-run`` prints: the job config and the exact command; nothing is written."""
    if through_nemo_run(job.env, options.via):
        from .._extras import calling_extra

        module = extra_executor(job.executor)
        with calling_extra():
            return str(module.dry_run(job, options))
    if job.executor == "slurm":
        from ..slurm.follow import dry_run_slurm

        return dry_run_slurm(
            job, args=options.args, attached=not options.detached,
            show_secrets=options.show_secrets,
        )  # fmt: skip
    return _dry_run_local([job], [options.args], options.show_secrets)


def _dry_run_local(
    jobs: Sequence[Job], step_args: Sequence[Sequence[str]], show_secrets: bool = False
) -> str:
    from .local import local_launch
    from .pipeline.steps import Step, render_shell

    parts, steps = [], []
    for job, args in zip(jobs, step_args, strict=True):
        launch = local_launch(job, args)
        where = job.config_file if job.dir else job.config_path
        shown = job.config_document(job.config if show_secrets else masked_tree(job.config))
        parts.append(f"# job config of {job.name}: {where}\n{shown}")
        parts += [f"# note: {note}\n" for note in launch.notes]
        env = launch.step.env
        if env is not None and not show_secrets:
            env = masked(env)
        steps.append(Step.create(launch.step.name, launch.step.argv, env, launch.step.cwd))
    parts.append("# command\n" + render_shell(steps) + "\n")
    return "".join(parts)


def parse_steps(tokens: Sequence[str]) -> list[StepArguments]:
    """Split ``runspec pipe`` arguments at ``+`` into steps."""
    groups: list[list[str]] = [[]]
    for token in tokens:
        if token == "+":
            groups.append([])
        else:
            groups[-1].append(token)
    if groups == [[]]:
        raise PipelineError("pipe: give at least one step (SCRIPT [-c CONFIG] [OVERRIDE...])")
    return [_parse_step(group, index) for index, group in enumerate(groups, start=1)]


def _parse_step(tokens: list[str], index: int) -> StepArguments:
    if not tokens or tokens[0].startswith("-"):
        raise PipelineError(f"pipe: step {index} must start with a script (got {tokens[:1]})")
    config: str | None = None
    overrides: list[str] = []
    rest = tokens[1:]
    while rest:
        token = rest.pop(0)
        if token == "--":
            return StepArguments(tokens[0], config, tuple(overrides), tuple(rest))
        if token in ("-c", "--config"):
            if not rest:
                raise PipelineError(f"pipe: step {index}: {token} needs a config name or path")
            config = rest.pop(0)
        elif token.startswith("--config="):
            config = token.partition("=")[2]
        elif token.startswith("-") or ("=" not in token and not token.startswith("~")):
            raise PipelineError(
                f"pipe: step {index}: {token!r} is neither -c CONFIG nor an override "
                "(key=value); the recipe's own arguments go after '--' "
                "(SCRIPT [-c CONFIG] [OVERRIDE...] -- ARGS...)"
            )
        else:
            overrides.append(token)
    return StepArguments(tokens[0], config, tuple(overrides))


def run_pipe(jobs: Sequence[Job], step_args: Sequence[Sequence[str]], options: RunOptions) -> int:
    """Run jobs joined by pipes on their (common) executor; return the exit code."""
    try:
        executor = _common_executor(jobs)
    except PipelineError:
        for job in jobs:
            discard_dir(job.dir)  # none of the steps will run
        raise
    if executor == "slurm":
        from ..slurm.follow import run_slurm_pipeline

        return run_slurm_pipeline(
            jobs, argv=options.argv, step_args=step_args, prefix=options.prefix
        )
    from .local import run_steps

    launches = _launchable(jobs, step_args)
    for job in jobs:
        probe_git(job.spec.script_path.parent)  # once per folder, while the steps start
    records = [_LocalRecord.create(job, options.argv) for job in jobs]

    def started() -> None:
        for record in records:
            record.started()

    try:
        result = run_steps(jobs, launches, prefix=options.prefix, started=started)
    except RunspecError as exc:
        for record in records:
            record.end(error=str(exc))
        raise
    for record, step in zip(records, result.steps, strict=True):
        code = step.returncode
        record.end(exit_code=code if code >= 0 else 128 - code)
    if result.exit_code:
        print(f"runspec: {result.describe()}", file=sys.stderr)
    return result.exit_code


def _launchable(jobs: Sequence[Job], step_args: Sequence[Sequence[str]]) -> list[Launch]:
    """Build every job's launch; when one cannot be built, remove the (still empty) job
    folders made for them."""
    from ..startup import check_syntax
    from .local import check_launcher, local_launch

    try:
        for job in jobs:
            check_launcher(job)
            check_syntax(job)
        return [local_launch(job, args) for job, args in zip(jobs, step_args, strict=True)]
    except BaseException:
        for job in jobs:
            discard_dir(job.dir)
        raise


def dry_run_pipe(
    jobs: Sequence[Job], step_args: Sequence[Sequence[str]], options: RunOptions
) -> str:
    """What ``pipe --dry-run`` prints for the executor of the steps."""
    executor = _common_executor(jobs)
    if executor == "slurm":
        from ..slurm.follow import dry_run_slurm_pipeline

        return dry_run_slurm_pipeline(
            jobs, step_args=step_args, prefix=options.prefix, show_secrets=options.show_secrets
        )
    return _dry_run_local(jobs, step_args, options.show_secrets)


def _common_executor(jobs: Sequence[Job]) -> str:
    """The executor of every step: one of the core's (nemo-run has no pipelines)."""
    executors = sorted({job.executor for job in jobs})
    if len(executors) != 1:
        raise PipelineError(
            f"pipe: all steps must run on one executor (got {', '.join(executors)})"
        )
    if any(through_nemo_run(job.env) for job in jobs):
        message = (
            f"pipe: executor {executors[0]!r} runs through nemo-run, which has no pipelines; "
            "pipelines run on runspec's own local and slurm executors"
        )
        raise PipelineError(message)
    return executors[0]
