"""Run a job as a one-task nemo-run experiment, or show nemo-run's own dry run of it.

The experiment lives where nemo-run keeps its experiments (``$NEMORUN_HOME``, default
``~/.nemo_run``), so nemo-run's own tools see it; the runspec job folder holds the job
config, the copy shipped with the code (``shipped/``) and the ``runspec.json`` record,
which names the experiment. A dry run points nemo-run's home at a temporary folder and
leaves nothing behind. nemo-run's own output goes to stderr: stdout belongs to the
recipe (``streams``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runspec._masking import masked_tree
from runspec.errors import RunspecError
from runspec.job import Job, discard_dir, write_record

from .build import Prepared, prepare
from .failures import describe_failure
from .slurm import job_exit_code, require_accounting
from .streams import nemo_run_console, progress_to_stderr
from .task import recipe_script

if TYPE_CHECKING:
    from runspec.run.executor import RunOptions

__all__ = ["dry_run", "run"]


def run(job: Job, options: RunOptions) -> int:
    """Run ``job`` through nemo-run and return the exit code to leave with.

    Attached runs wait and return 0 when the job succeeded, else the Slurm job's exit code
    (when sacct gives one) or 1; detached runs
    (``run -b``, ``submit``) print nemo-run's handle of the job and return 0.
    """
    if job.dir is None:
        raise ValueError("a nemo-run job needs a job folder")
    try:
        prepared = prepare(
            job, job.dir / "shipped", detached=options.detached, local_config=job.config_file
        )
        if prepared.request.executor == "slurm" and not options.detached:
            require_accounting(prepared.executor)
    except BaseException:
        shutil.rmtree(job.dir / "shipped", ignore_errors=True)
        discard_dir(job.dir)
        raise
    job.write_config()
    write_record(job, options.argv, job_id=None, launcher="nemo-run")
    try:
        with nemo_run_console(), progress_to_stderr(), _inside(prepared.code.root):
            handle, state, folder = _launch(job, prepared, options)
    except RunspecError as exc:
        write_record(job, options.argv, job_id=None, launcher="nemo-run", error=str(exc))
        raise
    except Exception as exc:
        error = RunspecError(f"nemo-run could not launch {job.name}: {describe_failure(exc)}")
        write_record(job, options.argv, job_id=None, launcher="nemo-run", error=str(error))
        raise error from exc
    return _finish(job, options, prepared, handle, state, folder)


def _finish(
    job: Job, options: RunOptions, prepared: Prepared, handle: str, state: str, folder: str
) -> int:
    """Record how the job ended (or that it was submitted), say so, return the exit code."""
    succeeded = options.detached or state == "SUCCEEDED"
    exit_code = None if succeeded else _slurm_exit_code(prepared, handle)
    code = 0 if succeeded else exit_code or 1
    details = {"handle": handle, "state": state, "folder": folder}
    extra: dict[str, Any] = {"launcher": "nemo-run", "nemo_run": details}
    if not options.detached:
        extra["exit_code"] = code
    write_record(job, options.argv, job_id=handle, **extra)
    if options.detached:
        print(handle)
    elif code:
        said = f" (exit code {exit_code})" if exit_code else ""
        message = f"runspec: {job.name} ended {state} in nemo-run{said}; logs: {folder}"
        print(message, file=sys.stderr)
    return code


def _slurm_exit_code(prepared: Prepared, handle: str) -> int | None:
    """The exit code of a Slurm job that did not succeed, from sacct (nemo-run reports only
    a state); None for other executors."""
    if prepared.request.executor != "slurm":
        return None
    return job_exit_code(prepared.executor, handle.rsplit("/", 1)[-1])


def _launch(job: Job, prepared: Prepared, options: RunOptions) -> tuple[str, str, str]:
    from ._nemo_run import nemo_run

    with nemo_run.Experiment(
        job.name, executor=prepared.executor, log_level="WARN", enable_goodbye_message=False
    ) as experiment:
        task = _add(experiment, job, prepared, options.args)
        experiment.run(detach=options.detached, tail_logs=not options.detached)
    state = getattr(task.state, "name", str(task.state))
    return str(task.handle), state, str(task.executor.job_dir)


def _add(experiment: Any, job: Job, prepared: Prepared, args: Sequence[str]) -> Any:
    """Add the recipe as the experiment's one task and return nemo-run's job for it."""
    script = prepared.code.script_path(job.spec.script_path)
    config = prepared.code.config
    env = {"RUNSPEC_JOB_NAME": job.name, "RUNSPEC_CONFIG": config}
    experiment.add(recipe_script(job, script, config, args, env), name=job.name)
    return experiment.jobs[-1]


def dry_run(job: Job, options: RunOptions) -> str:
    """nemo-run's own dry run of ``job`` (the batch script or request it would submit),
    after the job config; nothing is written or submitted."""
    local = job.config_file if job.dir else job.config_path
    with tempfile.TemporaryDirectory(prefix="runspec-nemo-run-") as base, _home(base):
        prepared = prepare(
            job, Path(base, "shipped"), detached=options.detached, local_config=local
        )
        with nemo_run_console(quiet=True), _inside(prepared.code.root):
            shown = _dry_run_text(job, prepared, options.args)
    config = job.config if options.show_secrets else masked_tree(job.config)
    if not options.show_secrets:
        shown = _masked(shown, job)
    header = f"# job config of {job.name}: {local}\n{job.config_document(config)}"
    kind = type(prepared.executor).__name__
    return f"{header}# nemo-run dry run ({kind})\n{shown.rstrip()}\n"


def _dry_run_text(job: Job, prepared: Prepared, args: Sequence[str]) -> str:
    from ._nemo_run import nemo_run

    with nemo_run.Experiment(
        job.name, executor=prepared.executor, log_level="WARN", clean_mode=True,
        enable_goodbye_message=False,
    ) as experiment:  # fmt: skip
        task = _add(experiment, job, prepared, args)
        experiment.dryrun(log=False, delete_exp_dir=True)
    # nemo-run keeps what its scheduler would submit on the task; there is no public getter.
    return str(task._dryrun_info)


def _masked(text: str, job: Job) -> str:
    """Hide the values of secret-looking profile keys and environment variables in
    nemo-run's text (its dry run shows the executor's fields)."""
    from runspec._masking import MASK

    for secret in sorted(_secrets(job.env), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _secrets(tree: Mapping[str, Any]) -> set[str]:
    from runspec._masking import masked_tree

    found: set[str] = set()
    shown = masked_tree(tree)
    for key, value in tree.items():
        if isinstance(value, Mapping):
            found |= _secrets(value)
        elif isinstance(value, (str, int, float)) and shown[key] != value and str(value):
            found.add(str(value))
    return found


@contextlib.contextmanager
def _home(folder: str) -> Iterator[None]:
    """Point nemo-run's home at ``folder`` for a while (executors derive remote paths
    from it)."""
    from nemo_run.config import get_nemorun_home, set_nemorun_home

    saved = get_nemorun_home()
    set_nemorun_home(folder)
    try:
        yield
    finally:
        set_nemorun_home(saved)


@contextlib.contextmanager
def _inside(folder: Path | None) -> Iterator[None]:
    """Work in ``folder`` (nemo-run's git packager archives the repository of the current
    folder); no change when None."""
    if folder is None:
        yield
        return
    here = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)
