"""Running a job: on this machine, on Slurm or on an extra's executor.

============================  =============================================================
module                        owns
============================  =============================================================
:mod:`.executor`              dispatch on the profile's ``executor``: ``run``, ``run_pipe``,
                              their dry runs, job folders by executor, ``pipe`` arguments
:mod:`.local`                 a job run here: its environment, its launch step, records
:mod:`.pipeline`              steps as OS processes joined by pipes: spawning, waiting,
                              judging failures, forwarding signals, prefixing stderr
============================  =============================================================

The recipe's command by launch method is :mod:`runspec.launch` (shared with
:mod:`runspec.slurm`); the Slurm side of a run is :mod:`runspec.slurm.cluster`.

The names below are importable from here; each module is imported on first use, so
that reaching one part does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .executor import (
        CORE_EXECUTORS,
        RunOptions,
        StepArguments,
        dry_run,
        dry_run_pipe,
        extra_executor,
        job_dir_for,
        parse_steps,
        run,
        run_pipe,
    )
    from .local import Launch, local_launch, run_local, run_steps
    from .pipeline import PipelineResult, Step, StepResult, render_shell, run_pipeline

_MODULES = {
    "executor": (
        "CORE_EXECUTORS", "RunOptions", "StepArguments", "dry_run", "dry_run_pipe",
        "extra_executor", "job_dir_for", "parse_steps", "run", "run_pipe",
    ),
    "local": ("Launch", "local_launch", "run_local", "run_steps"),
    "pipeline": ("PipelineResult", "Step", "StepResult", "render_shell", "run_pipeline"),
}  # fmt: skip

__all__ = [
    "CORE_EXECUTORS",
    "Launch",
    "PipelineResult",
    "RunOptions",
    "Step",
    "StepArguments",
    "StepResult",
    "dry_run",
    "dry_run_pipe",
    "extra_executor",
    "job_dir_for",
    "local_launch",
    "parse_steps",
    "render_shell",
    "run",
    "run_local",
    "run_pipe",
    "run_pipeline",
    "run_steps",
]


def __getattr__(name: str) -> object:
    """Import the module of a re-exported name on first use."""
    for module, names in _MODULES.items():
        if name in names:
            import importlib

            return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
