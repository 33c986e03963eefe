"""env.toml's ``[wandb]`` section as the standard ``WANDB_*`` variables of every job.

The section (``entity``, ``project``, ``tags``, ``group``, ``mode``, ...) reaches the
job's environment, locally and in the batch script of a Slurm job; a profile's own
``env_vars`` still win. The API key is never taken from env.toml: it would end up in
files. It travels from the submitting environment to the job's (``sbatch`` exports
the environment it is started with; over ssh runspec hands it to the remote ``sbatch``
through the connection, see :func:`forwarded_secrets`) or comes from the job's own
``wandb login``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ProfileError

__all__ = ["FORWARDED_SECRETS", "WANDB_VARIABLES", "forwarded_secrets", "wandb_variables"]

WANDB_VARIABLES: Mapping[str, str] = {
    "entity": "WANDB_ENTITY",
    "project": "WANDB_PROJECT",
    "group": "WANDB_RUN_GROUP",
    "tags": "WANDB_TAGS",
    "mode": "WANDB_MODE",
    "name": "WANDB_NAME",
    "job_type": "WANDB_JOB_TYPE",
    "notes": "WANDB_NOTES",
    "dir": "WANDB_DIR",
    "base_url": "WANDB_BASE_URL",
}
"""``[wandb]`` key -> the variable W&B reads it from."""

FORWARDED_SECRETS = ("WANDB_API_KEY",)
"""Secrets a job gets from the environment it is submitted from, and only from there."""


def forwarded_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """The :data:`FORWARDED_SECRETS` set in ``environ``, for a job submitted over ssh.

    A login node's ``sbatch`` passes on its own environment, not the workstation's: these
    travel in the ssh connection to the remote shell that runs ``sbatch``, so that they
    reach the job's environment without being written to a file or put on a command line.
    """
    return {name: environ[name] for name in FORWARDED_SECRETS if environ.get(name)}


def wandb_variables(section: Mapping[str, Any] | None) -> dict[str, str]:
    """The ``WANDB_*`` variables for a job from env.toml's ``[wandb]`` (``run.wandb``)."""
    found: dict[str, str] = {}
    if not isinstance(section, Mapping):
        return {}
    for key, value in section.items():
        if key in ("api_key", "key"):
            raise ProfileError(
                "do not keep the W&B API key in env.toml: export WANDB_API_KEY where you "
                "submit, or run 'wandb login' where the job runs",
                key=f"wandb.{key}",
            )
        name = WANDB_VARIABLES.get(str(key))
        if name is None or value is None:
            continue
        if isinstance(value, (list, tuple)):
            found[name] = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            found[name] = "true" if value else "false"
        else:
            found[name] = str(value)
    return found
