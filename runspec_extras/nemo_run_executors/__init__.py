"""runspec jobs through nemo-run: executors from env.toml profiles (``runspec[nemo-run]``).

``executor = "local" | "slurm" | "docker" | "dgxcloud" | "lepton" | "skypilot"`` in a
profile picks the nemo-run executor; :func:`build_executor` maps the profile's keys onto
it, and :func:`run` and :func:`dry_run` run a job through a one-task nemo-run experiment.

Importing this package is cheap and imports no nemo-run: :data:`EXECUTORS` (which profile
keys each executor reads) is plain data. nemo-run is imported by :func:`runner`, which is
what runspec's run dispatch calls, or on first use of the other names.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .keys import EXECUTORS, ExecutorKeys, check_keys

__all__ = [
    "EXECUTORS",
    "ExecutorKeys",
    "ExecutorRequest",
    "build_executor",
    "check_keys",
    "dry_run",
    "executor_fields",
    "prepare",
    "run",
    "runner",
]

_LAZY = {
    "ExecutorRequest": "request",
    "build_executor": "build",
    "executor_fields": "build",
    "prepare": "build",
    "run": "experiment",
    "dry_run": "experiment",
}


def runner(purpose: str) -> ModuleType:
    """The module with ``run(job, options)`` and ``dry_run(job, options)``, importing
    nemo-run for ``purpose`` ("executor 'lepton'"): a missing nemo-run is an error naming
    the extra, a broken one an error showing why it fails to import."""
    from .._optional import importing

    with importing(purpose):
        from . import _nemo_run  # noqa: F401
    return importlib.import_module(f"{__name__}.experiment")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
