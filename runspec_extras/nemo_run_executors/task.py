"""The recipe as a ``nemo_run.Script`` and the nemo-run launcher for its launch method.

``direct`` runs the recipe's program as it is; ``torchrun`` uses nemo-run's ``Torchrun``
launcher (one torchrun per node, ``nproc_per_node`` processes each); ``ray`` uses
``SlurmRay`` on Slurm (a Ray cluster over the job's nodes) and elsewhere runs the program
as it is, where the recipe's ``ray.init()`` starts Ray. The program is the recipe's
``cmd`` or ``python SCRIPT --config CONFIG``, with the job config as the job sees it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runspec.job import Job
from runspec.launch import program

from ._nemo_run import nemo_run

__all__ = ["launcher_for", "recipe_script"]


def recipe_script(
    job: Job, script: str, config: str, args: Sequence[str], env: Mapping[str, str]
) -> Any:
    """The ``nemo_run.Script`` running ``job``'s program: ``script`` is the recipe's path as
    the job sees it, ``config`` the job config's, ``args`` the recipe's own arguments."""
    spec = dataclasses.replace(job.spec, script_path=Path(script))
    argv = program(spec, config, args, python="python", resolve=job.resolve)
    if spec.run.cmd is None:
        return nemo_run.Script(
            path=argv[1], args=list(argv[2:]), entrypoint="python", env=dict(env)
        )
    # A program that is not python: `env PROGRAM ARGS` when run directly, `torchrun
    # --no-python PROGRAM ARGS` under torchrun (nemo-run drops the entrypoint there).
    return nemo_run.Script(path=argv[0], args=list(argv[1:]), entrypoint="env", env=dict(env))


def launcher_for(launch: str, executor: str) -> Any:
    """nemo-run's launcher for a runspec launch method on ``executor`` (None: run as is)."""
    if launch == "torchrun":
        return nemo_run.Torchrun()
    if launch == "ray" and executor == "slurm":
        return nemo_run.SlurmRay()
    return None
