"""Running jobs on this machine: one recipe, or several joined by pipes.

A local run is a pipeline of one step. Each job gets a folder under
``.runspec/jobs/<timestamp>-<name>/`` (or the profile's ``job_dir``) holding its
config and a ``runspec.json`` record; the recipe runs with its environment from
the recipe's ``[tool.runspec.env]`` and the profile's ``env_vars``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._environ import env_text
from ..auto_mount import local_notes
from ..errors import PipelineError, RunspecError
from ..job import Job
from ..launch import program, torchrun_argv
from ..tracking import wandb_variables
from .pipeline.steps import Step

if TYPE_CHECKING:
    from .pipeline.steps import PipelineResult

__all__ = ["Launch", "local_launch", "run_local", "run_steps"]


@dataclass(frozen=True)
class Launch:
    """How a job starts here: its pipeline step and notes worth telling the user."""

    step: Step
    notes: tuple[str, ...] = ()


def _gpu_count() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip()])
    import glob

    return len(glob.glob("/dev/nvidia[0-9]*"))


def _nproc(job: Job) -> tuple[int, str]:
    """torchrun processes here: ``nproc_per_node``; else ``gpus_per_node`` when a profile,
    config file or override set it, or when this machine has GPUs; else 1."""
    nproc = job.env.get("nproc_per_node")
    if nproc is not None:
        return int(nproc), f"nproc_per_node from the {_origin(job, 'nproc_per_node')}"
    count = job.env.get("gpus_per_node", job.spec.resources.gpus)
    origin = _origin(job, "gpus_per_node")
    if origin.startswith(("profile", "config file", "command line")):
        return int(count), f"gpus_per_node from the {origin}"
    if _gpu_count() > 0:
        return int(count), "the recipe's gpus_per_node"
    return 1, f"no GPUs found here; the recipe asks for {count} per node"


def _origin(job: Job, key: str) -> str:
    return job.env_origins.get((key,), "job's run.env")


def _environment(job: Job) -> dict[str, str]:
    env = dict(os.environ)
    env["RUNSPEC_JOB_NAME"] = job.name
    if job.dir is not None:
        env["RUNSPEC_JOB_DIR"] = str(job.dir)
        env["RUNSPEC_CONFIG"] = str(job.config_file)
    env.update(wandb_variables(job.config["run"].get("wandb")))
    recipe_env = job.resolve(dict(job.spec.env))
    for values in (recipe_env, job.env.get("env_vars") or {}):
        env.update({str(key): env_text(value) for key, value in values.items()})
    return env


def local_launch(job: Job, args: Sequence[str] = ()) -> Launch:
    """The step that runs ``job`` here, by its launch method, and notes about choices made."""
    config = str(job.config_file) if job.dir else str(job.config_path)
    spec, notes = job.spec, list(local_notes(job))
    if spec.run.launcher == "torchrun":
        count, why = _nproc(job)
        notes.append(f"torchrun with {count} process(es) ({why})")
        if not _has_torch():
            notes.append(f"torch is missing: {sys.executable} cannot import it, so a real run "
                         "stops here")  # fmt: skip
        torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone")
        argv = torchrun_argv(
            spec, config, args, torchrun=(*torchrun, f"--nproc-per-node={count}"),
            resolve=job.resolve,
        )  # fmt: skip
    else:
        argv = program(spec, config, args, python=sys.executable, resolve=job.resolve)
    lines = _before_job(job)
    if lines:
        argv = _after_lines(lines, argv)
        notes.append(f"{len(lines)} setup line(s) run first (setup, startup_commands)")
    step = Step.create(job.name, argv, _environment(job), _workdir(job), log_dir=job.dir)
    return Launch(step, tuple(notes))


def check_launcher(job: Job) -> None:
    """Refuse, before anything starts, a job whose launcher this Python lacks (torchrun
    without torch: its processes would only fail one by one)."""
    if job.spec.run.launcher == "torchrun" and not _has_torch():
        message = (
            f"launch 'torchrun' needs torch, which {sys.executable} cannot import "
            "(install torch for it, or run runspec with a Python that has torch)"
        )
        raise PipelineError(message, path=job.spec.script_path)


def _has_torch() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _before_job(job: Job) -> list[str]:
    """The shell lines a local run runs before the job: the profile's ``setup``, then
    ``run.env.startup_commands``, as a batch job would."""
    from ..startup import KEYS, shell_lines

    try:
        return [line for key in KEYS for line in shell_lines(job.env, key)]
    except RunspecError as exc:
        raise PipelineError(exc.message, key=exc.key) from None


def _after_lines(lines: Sequence[str], argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` run by a shell after ``lines`` (stopping at the first that fails).

    The job's words reach it as the shell's arguments, never as shell text, and
    ``exec`` makes the job the process runspec started.
    """
    script = "\n".join(("set -e", *lines, 'exec "$@"'))
    return ("bash", "-c", script, "runspec-startup", *argv)


def _workdir(job: Job) -> str | None:
    """``run.env.workdir`` (relative to the recipe's folder); None: the current folder."""
    raw = job.env.get("workdir")
    if raw is None:
        return None
    return os.path.normpath(os.path.join(job.spec.script_path.parent, str(raw)))


def run_steps(
    jobs: Sequence[Job], launches: Sequence[Launch], *, prefix: bool,
    started: Callable[[], None] | None = None,
) -> PipelineResult:  # fmt: skip
    """Write each job's config, then run the steps joined by pipes and wait for all.

    ``started`` is called once every step has started (see ``run_pipeline``).
    """
    from .pipeline.engine import run_pipeline

    for job in jobs:
        if job.dir is not None:
            job.write_config()
    steps = [launch.step for launch in launches]
    return run_pipeline(steps, prefix_stderr=prefix, started=started)


def run_local(
    job: Job, launch: Launch, started: Callable[[], None] | None = None
) -> PipelineResult:
    """Run one job here, as :func:`local_launch` made it start, and return how it ended."""
    for note in launch.notes:
        print(f"runspec: {note}", file=sys.stderr)
    return run_steps([job], [launch], prefix=False, started=started)
