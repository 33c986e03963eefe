"""Slurm: batch scripts rendered from jobs, and the programs that submit and follow them.

==================  =====================================================================
module              owns
==================  =====================================================================
:mod:`.render`      the pure renderer: a job (or a pipeline of jobs) as the text
                    ``sbatch`` runs; no clock, no environment, no files
:mod:`.cluster`     the doers: job folders, ``submit``, ``wait``, ``follow``, ``status``,
                    ``cancel``, and the entry points of ``runspec run``/``pipe`` on Slurm
:mod:`.transport`   how the programs are reached: the ``Runner`` type (``argv -> (exit
                    code, stdout, stderr)``) and :func:`run_program`, the local runner
==================  =====================================================================

``render`` imports neither of the others; ``cluster`` runs every program through a
``Runner`` from ``transport``. The names below are importable from here; each
module is imported on first use, so that ``runspec status`` does not load the renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cluster import (
        TERMINAL_STATES,
        Backoff,
        cancel,
        default_python,
        dry_run_slurm,
        dry_run_slurm_pipeline,
        find_repo,
        follow,
        job_folder,
        job_root,
        output_files,
        prepare,
        query,
        refuse_tunnel,
        remove_folder,
        render_status,
        repo_for,
        require_sbatch,
        run_attached,
        run_slurm,
        run_slurm_pipeline,
        status,
        submit,
        submit_pipeline,
        tail,
        wait,
    )
    from .render import (
        DEPENDENCY_TYPES,
        BatchScript,
        check_time,
        pipeline_name,
        render_pipeline_sbatch,
        render_sbatch,
    )
    from .transport import Runner, run_program

_MODULES = {
    "render": (
        "DEPENDENCY_TYPES", "BatchScript", "check_time", "pipeline_name",
        "render_pipeline_sbatch", "render_sbatch",
    ),
    "cluster": (
        "TERMINAL_STATES", "Backoff", "cancel", "default_python", "dry_run_slurm",
        "dry_run_slurm_pipeline", "find_repo", "follow", "job_folder", "job_root",
        "output_files", "prepare", "query", "refuse_tunnel", "remove_folder", "render_status",
        "repo_for", "require_sbatch",
        "run_attached", "run_slurm", "run_slurm_pipeline", "status", "submit",
        "submit_pipeline", "tail", "wait",
    ),
    "transport": ("Runner", "run_program"),
}  # fmt: skip

__all__ = [
    "DEPENDENCY_TYPES",
    "TERMINAL_STATES",
    "Backoff",
    "BatchScript",
    "Runner",
    "cancel",
    "check_time",
    "default_python",
    "dry_run_slurm",
    "dry_run_slurm_pipeline",
    "find_repo",
    "follow",
    "job_folder",
    "job_root",
    "output_files",
    "pipeline_name",
    "prepare",
    "query",
    "refuse_tunnel",
    "remove_folder",
    "render_pipeline_sbatch",
    "render_sbatch",
    "render_status",
    "repo_for",
    "require_sbatch",
    "run_attached",
    "run_program",
    "run_slurm",
    "run_slurm_pipeline",
    "status",
    "submit",
    "submit_pipeline",
    "tail",
    "wait",
]


def __getattr__(name: str) -> object:
    """Import the module of a re-exported name on first use."""
    for module, names in _MODULES.items():
        if name in names:
            import importlib

            return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
