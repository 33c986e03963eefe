"""nemo-run's ``LocalExecutor``: this machine, the recipe run where it is."""

from __future__ import annotations

from typing import Any

from .request import ExecutorRequest

__all__ = ["local_fields"]


def local_fields(request: ExecutorRequest) -> dict[str, Any]:
    """``LocalExecutor`` keyword arguments: one node, torchrun's processes per node."""
    return {
        "nodes": 1,
        "ntasks_per_node": request.nproc_per_node,
        "env_vars": dict(request.env_vars),
    }
