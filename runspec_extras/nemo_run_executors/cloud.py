"""nemo-run's cloud executors: DGX Cloud, Lepton and SkyPilot.

Each takes its own keys from the profile under nemo-run's names (``base_url``,
``resource_shape``, ``cloud``, ...) next to the common ones (image, nodes, GPUs,
processes per node, mounts, setup lines, environment).
"""

from __future__ import annotations

from typing import Any

from runspec.errors import ProfileError

from .request import ExecutorRequest

__all__ = ["dgxcloud_fields", "lepton_fields", "skypilot_fields"]

_DGXCLOUD = (
    "base_url", "kube_apiserver_url", "project_name", "pvc_nemo_run_dir", "pvcs",
    "distributed_framework", "custom_spec", "launched_from_cluster",
)  # fmt: skip
_LEPTON = (
    "nemo_run_dir", "resource_shape", "node_group", "shared_memory_size", "node_reservation",
    "image_pull_secrets", "secret_vars", "custom_spec", "launched_from_cluster",
)  # fmt: skip
_SKYPILOT = (
    "cloud", "region", "zone", "infra", "gpus", "cpus", "memory", "instance_type", "use_spot",
    "disk_size", "disk_tier", "cluster_name", "autodown", "idle_minutes_to_autostop",
    "retry_until_up", "network_tier",
)  # fmt: skip


def _common(request: ExecutorRequest) -> dict[str, Any]:
    return {
        "container_image": request.image,
        "nodes": request.nodes,
        "gpus_per_node": request.gpus_per_node,
        "nprocs_per_node": request.nproc_per_node,
        "env_vars": dict(request.env_vars),
    }


def dgxcloud_fields(request: ExecutorRequest) -> dict[str, Any]:
    """``DGXCloudExecutor`` keyword arguments (``app_id``/``app_secret`` are the cookbook's
    names for ``client_id``/``client_secret``)."""
    return {
        **_common(request),
        "client_id": request.get("client_id", request.get("app_id")),
        "client_secret": request.get("client_secret", request.get("app_secret")),
        **request.options(*_DGXCLOUD),
    }


def lepton_fields(request: ExecutorRequest) -> dict[str, Any]:
    """``LeptonExecutor`` keyword arguments; ``mounts`` entries ``SRC:DST`` come from the
    storage named by ``mount_from``, and setup lines run before the launch."""
    fields = {**_common(request), **request.options(*_LEPTON)}
    mounts = list(request.get("mounts", []))
    if mounts:
        source = request.get("mount_from")
        if not source:
            message = "lepton mounts need the storage they come from; set mount_from"
            raise ProfileError(message, key="run.env.mount_from")
        fields["mounts"] = [_lepton_mount(text, str(source)) for text in mounts]
    if request.setup:
        fields["pre_launch_commands"] = list(request.setup)
    return fields


def _lepton_mount(text: str, source: str) -> dict[str, str]:
    path, _, target = text.partition(":")
    return {"path": path, "mount_path": target.partition(":")[0] or path, "from": source}


def skypilot_fields(request: ExecutorRequest) -> dict[str, Any]:
    """``SkypilotExecutor`` keyword arguments; ``mounts`` entries ``SRC:DST`` become file mounts
    (SRC copied to DST on the cluster), setup lines its ``setup``."""
    fields: dict[str, Any] = {
        "container_image": request.image,
        "num_nodes": request.nodes,
        "env_vars": dict(request.env_vars),
        **request.options(*_SKYPILOT),
    }
    if request.gpus_per_node > 0:
        fields["gpus_per_node"] = request.gpus_per_node
    if request.launch == "torchrun":
        fields["torchrun_nproc_per_node"] = request.nproc_per_node
    mounts = [str(text).split(":") for text in request.get("mounts", [])]
    if mounts:
        fields["file_mounts"] = {(parts[1:] or parts)[0]: parts[0] for parts in mounts}
    if request.setup:
        fields["setup"] = "\n".join(request.setup)
    return fields
