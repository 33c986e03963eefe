"""Slurm: batch scripts rendered from jobs, and the programs that submit and follow them.

==================  =====================================================================
module              owns
==================  =====================================================================
:mod:`.render`      the pure renderer: a job (or a pipeline of jobs) as the text
                    ``sbatch`` runs; no clock, no environment, no files
:mod:`.cluster`     the doers: job folders, ``prepare``, ``send``/``submit``, ``wait``,
                    ``status``, ``cancel``
:mod:`.follow`      the terminal side: state while waiting, output as it is written,
                    Ctrl-C, and the entry points of ``runspec run``/``pipe`` on Slurm
:mod:`.transport`   how the cluster is reached: the ``Runner`` type (``argv -> (exit
                    code, stdout, stderr)``), the ``Transport`` protocol and this machine
:mod:`.ssh`         the OpenSSH client: profile keys, one multiplexed connection per
                    target, the one function that quotes remote commands
:mod:`.remote`      a login node over ssh as a ``Transport``: job folders sent with
                    ``sbatch`` in one command, output read and followed
:mod:`.shipping`    code snapshots sent over ssh (rsync, else a tar stream)
:mod:`.snapshot`    the code a job runs from, named by its content
:mod:`.pins`        pinned sources (``${auto_mount:...}``) of a job sent over ssh,
                    checked out on the cluster by its ``git``
:mod:`.records`     finding a submitted job (and its login node) again by its id
==================  =====================================================================

``render`` imports none of the others; ``cluster`` runs every program through a
``Runner`` and sends every job through a ``Transport``. The names below are importable
from here; each module is imported on first use, so that ``runspec status`` does not
load the renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cluster import (
        TERMINAL_STATES,
        Backoff,
        Submission,
        cancel,
        default_python,
        find_repo,
        job_root,
        new_job_folder,
        output_files,
        prepare,
        prepare_pipeline,
        query,
        remove_folder,
        render_status,
        repo_for,
        require_sbatch,
        send,
        status,
        submit,
        tail,
        transport_for,
        wait,
    )
    from .follow import (
        Progress,
        dry_run_slurm,
        dry_run_slurm_pipeline,
        follow,
        run_attached,
        run_slurm,
        run_slurm_pipeline,
    )
    from .render import (
        DEPENDENCY_TYPES,
        BatchScript,
        check_time,
        pipeline_name,
        render_pipeline_sbatch,
        render_sbatch,
    )
    from .ssh import SshTarget, quote_command
    from .transport import LocalTransport, Runner, Transport, run_program

_MODULES = {
    "render": (
        "DEPENDENCY_TYPES", "BatchScript", "check_time", "pipeline_name",
        "render_pipeline_sbatch", "render_sbatch",
    ),
    "cluster": (
        "TERMINAL_STATES", "Backoff", "Submission", "cancel", "default_python", "find_repo",
        "job_root", "new_job_folder", "output_files", "prepare", "prepare_pipeline", "query",
        "remove_folder", "render_status", "repo_for", "require_sbatch", "send", "status",
        "submit", "tail", "transport_for", "wait",
    ),
    "follow": (
        "Progress", "dry_run_slurm", "dry_run_slurm_pipeline", "follow", "run_attached",
        "run_slurm", "run_slurm_pipeline",
    ),
    "ssh": ("SshTarget", "quote_command"),
    "transport": ("LocalTransport", "Runner", "Transport", "run_program"),
}  # fmt: skip

__all__ = [
    "DEPENDENCY_TYPES",
    "TERMINAL_STATES",
    "Backoff",
    "BatchScript",
    "LocalTransport",
    "Progress",
    "Runner",
    "SshTarget",
    "Submission",
    "Transport",
    "cancel",
    "check_time",
    "default_python",
    "dry_run_slurm",
    "dry_run_slurm_pipeline",
    "find_repo",
    "follow",
    "job_root",
    "new_job_folder",
    "output_files",
    "pipeline_name",
    "prepare",
    "prepare_pipeline",
    "query",
    "quote_command",
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
    "send",
    "status",
    "submit",
    "tail",
    "transport_for",
    "wait",
]


def __getattr__(name: str) -> object:
    """Import the module of a re-exported name on first use."""
    for module, names in _MODULES.items():
        if name in names:
            import importlib

            return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
