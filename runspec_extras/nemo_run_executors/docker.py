"""nemo-run's ``DockerExecutor``: the recipe in a container on this machine's Docker."""

from __future__ import annotations

from typing import Any

from .request import ExecutorRequest

__all__ = ["docker_fields"]

_OWN = ("runtime", "ipc_mode", "shm_size", "ulimits", "privileged", "network")


def docker_fields(request: ExecutorRequest) -> dict[str, Any]:
    """``DockerExecutor`` keyword arguments: image, volumes, GPUs and Docker's own options."""
    fields: dict[str, Any] = {
        "container_image": request.image,
        "volumes": list(request.get("mounts", [])),
        "ntasks_per_node": request.nproc_per_node,
        "env_vars": dict(request.env_vars),
        **request.options(*_OWN),
    }
    if request.gpus_per_node > 0:
        fields["num_gpus"] = request.gpus_per_node
    return fields
