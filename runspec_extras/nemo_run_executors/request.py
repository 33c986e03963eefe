"""What a job asks of its executor, read once from ``run.env`` and the recipe.

The cookbook's spellings are folded in here: ``container`` is ``container_image``,
``run_partition`` / ``batch_partition`` pick the partition for attached and detached
runs, ``startup_commands`` join ``setup``, and ``nproc_per_node`` beats the GPU count
for torchrun. No nemo-run import: the executor builders take an :class:`ExecutorRequest`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runspec._environ import env_text
from runspec.job import Job
from runspec.tracking import wandb_variables

from .keys import check_keys

__all__ = ["ExecutorRequest"]


@dataclass(frozen=True)
class ExecutorRequest:
    """A job's executor settings: the resolved profile plus the values runspec derives."""

    executor: str
    env: Mapping[str, Any]
    name: str
    launch: str
    image: str | None
    nodes: int
    gpus_per_node: int
    nproc_per_node: int
    partition: str | None
    setup: tuple[str, ...]
    env_vars: Mapping[str, str]
    warnings: tuple[str, ...] = ()
    detached: bool = False

    @classmethod
    def from_job(cls, job: Job, *, detached: bool = False) -> ExecutorRequest:
        """Read ``job``'s ``run.env``; raise for keys its executor needs and lacks."""
        env, spec = job.env, job.spec
        defaults = {
            "executor": job.executor,
            "nodes": spec.resources.nodes,
            "gpus_per_node": spec.resources.gpus_per_node,
        }
        image = _text(env.get("container_image") or env.get("container")) or spec.image
        warnings = check_keys(job.executor, env, defaults, image=spec.image)
        return cls(
            executor=job.executor,
            env=env,
            name=job.name,
            launch=spec.run.launcher,
            image=image,
            nodes=_count(env.get("nodes"), spec.resources.nodes),
            gpus_per_node=_count(env.get("gpus_per_node"), 0),
            nproc_per_node=_nproc(job),
            partition=_partition(env, detached),
            setup=_setup(env),
            env_vars=_env_vars(job),
            warnings=tuple(warnings),
            detached=detached,
        )

    def get(self, key: str, default: Any = None) -> Any:
        """A profile value as written, or ``default`` when unset."""
        value = self.env.get(key)
        return default if value is None else value

    def text(self, key: str) -> str | None:
        """A profile value as a string (Slurm takes ``time = 90`` as ``"90"``), or None."""
        return _text(self.env.get(key))

    def options(self, *keys: str) -> dict[str, Any]:
        """The keys of ``keys`` that are set, as nemo-run keyword arguments of the same name."""
        return {key: self.env[key] for key in keys if self.env.get(key) is not None}


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else env_text(value)


def _count(value: Any, default: int) -> int:
    """A whole number from the profile; ``gpus_per_node = "gpu"`` counts as unset."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _partition(env: Mapping[str, Any], detached: bool) -> str | None:
    """``batch_partition`` for detached runs, ``run_partition`` for attached ones, else
    ``partition``."""
    chosen = env.get("batch_partition" if detached else "run_partition")
    return _text(chosen) or _text(env.get("partition"))


def _setup(env: Mapping[str, Any]) -> tuple[str, ...]:
    lines: list[str] = []
    for key in ("setup", "startup_commands"):
        value = env.get(key)
        if isinstance(value, str):
            lines.append(value)
        elif isinstance(value, list):
            lines.extend(str(line) for line in value)
    return tuple(lines)


def _env_vars(job: Job) -> dict[str, str]:
    """env.toml's ``[wandb]`` as ``WANDB_*``, the recipe's ``[tool.runspec.env]``
    (``${run.*}`` resolved), then the profile's ``env_vars``, which win."""
    recipe = job.resolve(dict(job.spec.env))
    values = wandb_variables(job.config["run"].get("wandb"))
    for table in (recipe, job.env.get("env_vars") or {}):
        values.update({str(key): env_text(value) for key, value in table.items()})
    return values


def _nproc(job: Job) -> int:
    """torchrun processes per node: ``nproc_per_node``, else the GPUs per node, else
    ``ntasks_per_node``, else 1.

    On this machine (``local``) the recipe's own GPU count counts only when GPUs are
    visible here, as for runspec's own local runs; a profile or an override always counts.
    """
    env = job.env
    explicit = _count(env.get("nproc_per_node"), 0)
    if explicit:
        return explicit
    gpus = _count(env.get("gpus_per_node"), 0)
    if job.executor == "local" and not _gpus_asked(job) and not _gpus_here():
        gpus = 0
    return gpus or _count(env.get("ntasks_per_node"), 0) or 1


def _gpus_asked(job: Job) -> bool:
    """Did the profile or an override (rather than the recipe's default) set the GPUs?"""
    if job.profile is not None and "gpus_per_node" in job.profile.values:
        return True
    return any(override.path == ("run", "env", "gpus_per_node") for override in job.overrides)


def _gpus_here() -> bool:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return any(device.strip() for device in visible.split(","))
    import glob

    return bool(glob.glob("/dev/nvidia[0-9]*"))
