"""A dry run as data: everything about a job that a run would do, nothing done.

:func:`plan` describes one assembled job (see :func:`runspec.job.assemble`): the recipe,
the profile and its ``extends`` chain, where it runs, its resources, image and mounts,
the job folder it would get, the job config with the overrides applied, and the exact
command (local) or batch script and submission commands (Slurm), secrets masked unless
asked. It is a JSON-ready mapping: ``--json`` prints it as it is and
:func:`runspec.cli.display.render_plan` draws it as a tree. Nothing is written and
nothing is contacted; what the job itself needs (torch, Slurm, the image) is not
needed to plan it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._masking import masked, masked_argv, masked_tree

if TYPE_CHECKING:
    from ..job import Job
    from .executor import RunOptions

__all__ = ["RESOURCE_KEYS", "plan"]

RESOURCE_KEYS = (
    "nodes", "gpus_per_node", "ntasks_per_node", "nproc_per_node", "cpus_per_task", "mem",
    "time", "partition", "run_partition", "batch_partition", "account", "qos", "constraint",
    "exclusive",
)  # fmt: skip
"""The ``run.env`` keys shown as the job's resources, in this order, when set."""


def plan(job: Job, options: RunOptions) -> dict[str, Any]:
    """The dry run of ``job`` as a JSON-ready mapping (see the module doc)."""
    show = options.show_secrets
    env = job.env
    data: dict[str, Any] = {
        "recipe": {
            "name": job.spec.name, "script": str(job.spec.script_path),
            "launch": job.spec.run.launcher, "declared_image": job.spec.image,
        },
        "profile": _profile(job),
        "executor": job.executor,
        "resources": {key: env[key] for key in RESOURCE_KEYS if env.get(key) is not None},
        "image": job.image,
        "mounts": list(env.get("mounts") or []),
        "job_dir": str(job.dir) if job.dir is not None else None,
        "config": {
            "file": str(job.config_path),
            "overrides": masked_argv(override.text for override in job.overrides),
            "saved_as": str(job.config_file) if job.dir is not None else None,
            "values": job.config if show else masked_tree(job.config),
        },
    }  # fmt: skip
    data.update(_how(job, options))
    return data


def _profile(job: Job) -> dict[str, Any] | None:
    profile = job.profile
    if profile is None:
        return None
    return {"name": profile.name, "chain": list(profile.chain), "env_file": str(profile.path)}


def _how(job: Job, options: RunOptions) -> dict[str, Any]:
    """How the job would start: a command here, a batch script for Slurm, an extra's plan."""
    from .executor import extra_executor, through_nemo_run

    if through_nemo_run(job.env, getattr(options, "via", None)):
        return {"plan": str(extra_executor(job.executor).dry_run(job, options))}
    if job.executor == "slurm":
        return _slurm(job, options)
    return _local(job, options.args, options.show_secrets)


def _local(job: Job, args: Sequence[str], show: bool) -> dict[str, Any]:
    from .local import local_launch
    from .pipeline.steps import Step, render_shell

    launch = local_launch(job, args)
    step = launch.step
    env: Mapping[str, str] | None = step.env
    if env is not None and not show:
        env = masked(env)
    shown = Step.create(step.name, step.argv, env, step.cwd)
    return {"command": render_shell([shown]), "notes": list(launch.notes)}


def _slurm(job: Job, options: RunOptions) -> dict[str, Any]:
    from ..slurm.cluster import prepare

    sub = prepare(job, args=options.args, attached=not options.detached)
    script = sub.script
    return {
        "image": _srun_option(script.text, "--container-image") or job.image,
        "submit": _submission(sub),
        "batch_script": script.text if options.show_secrets else script.masked,
        "notes": list(script.warnings),
    }


def _submission(sub: Any) -> list[str]:
    """The commands that would send and submit the job (over ssh, with comments)."""
    import shlex

    command = ["sbatch", "--parsable", str(sub.folder / "sbatch.sh")]
    describe = getattr(sub.transport, "describe", None)
    if describe is None:
        return [shlex.join(command)]
    folders = list(dict.fromkeys([sub.folder, *(job.dir for job in sub.jobs if job.dir)]))
    lines = list(describe(folders, command, sub.code))
    return [*lines[:1], *sub.before, *lines[1:]]


def _srun_option(script: str, option: str) -> str | None:
    """The value of an ``srun`` option as the batch script passes it (the image it runs)."""
    import re
    import shlex

    found = re.search(rf"{option}=(\S+)", script)
    if found is None:
        return None
    words = shlex.split(found.group(1))
    return words[0] if words else None
