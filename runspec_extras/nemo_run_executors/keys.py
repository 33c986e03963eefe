"""Which profile keys each nemo-run executor reads and requires, and what to say about the rest.

Pure data and checks, no nemo-run import: ``runspec env --check`` and the executor
builders share it. A profile key the chosen executor cannot use is a warning; a key it
requires and the profile lacks is an error naming the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runspec.errors import ProfileError
from runspec.profiles import KNOWN_KEYS

__all__ = ["EXECUTORS", "ExecutorKeys", "check_keys", "set_keys"]

#: Keys every nemo-run executor takes (or that runspec itself consumes before building it).
COMMON = frozenset({"executor", "launcher", "extends", "env_vars", "job_dir"})
#: Executors that run on this one machine: more nodes than one cannot be had there.
ONE_MACHINE = ("local", "docker")

_SETUP = ("setup", "startup_commands")
_CONTAINER = ("container_image", "container")
_SLURM_EXTRA = (
    "cpus_per_gpu", "gpus_per_task", "mem_per_gpu", "mem_per_cpu", "exclude", "gres", "array",
)  # fmt: skip


@dataclass(frozen=True)
class ExecutorKeys:
    """The profile keys of one executor: the nemo-run class, what it reads, what it needs."""

    name: str
    cls: str
    reads: frozenset[str]
    required: tuple[str, ...] = ()
    module: str = "nemo_run"
    """The module that must import for the executor to be built (SkyPilot's ``sky``)."""

    @classmethod
    def create(
        cls, name: str, klass: str, reads: Iterable[str], required: Iterable[str] = (), **kw: str
    ) -> ExecutorKeys:
        """Build one entry; required keys are read keys too, and every executor that ships
        code (all but ``local``) reads ``code``."""
        needed = tuple(required)
        shipped = ("code",) if name != "local" else ()
        return cls(name, klass, frozenset((*reads, *needed, *shipped)) | COMMON, needed, **kw)


EXECUTORS: Mapping[str, ExecutorKeys] = {
    entry.name: entry
    for entry in (
        ExecutorKeys.create(
            "local", "LocalExecutor",
            ("nodes", "gpus_per_node", "ntasks_per_node", "nproc_per_node"),
        ),
        ExecutorKeys.create(
            "slurm", "SlurmExecutor",
            (
                "partition", "run_partition", "batch_partition", "nodes", "gpus_per_node",
                "ntasks_per_node", "nproc_per_node", "cpus_per_task", "mem", "time", "qos",
                "constraint", "exclusive", *_CONTAINER, "mounts", "setup", "startup_commands",
                "srun_args", "sbatch", "tunnel", "host", "user", "identity", "port",
                "remote_job_dir", "job_name_prefix", *_SLURM_EXTRA,
            ),
            ("account",),
        ),
        ExecutorKeys.create(
            "docker", "DockerExecutor",
            (
                *_CONTAINER, "mounts", "nodes", "gpus_per_node", "ntasks_per_node",
                "nproc_per_node", "runtime", "ipc_mode", "shm_size", "ulimits", "privileged",
                "network",
            ),
        ),
        ExecutorKeys.create(
            "dgxcloud", "DGXCloudExecutor",
            (
                *_CONTAINER, "nodes", "gpus_per_node", "ntasks_per_node", "nproc_per_node",
                "pvcs", "distributed_framework", "custom_spec", "launched_from_cluster",
                "app_id", "app_secret", "client_id", "client_secret",
            ),
            ("base_url", "kube_apiserver_url", "project_name", "pvc_nemo_run_dir"),
        ),
        ExecutorKeys.create(
            "lepton", "LeptonExecutor",
            (
                *_CONTAINER, "nodes", "gpus_per_node", "ntasks_per_node", "nproc_per_node",
                "mounts", "mount_from", *_SETUP, "shared_memory_size", "node_reservation",
                "image_pull_secrets", "secret_vars", "custom_spec", "launched_from_cluster",
            ),
            ("nemo_run_dir", "resource_shape", "node_group"),
        ),
        ExecutorKeys.create(
            "skypilot", "SkypilotExecutor",
            (
                *_CONTAINER, "nodes", "gpus_per_node", "nproc_per_node", "mounts", *_SETUP,
                "cloud", "region", "zone", "infra", "gpus", "cpus", "memory", "instance_type",
                "use_spot", "disk_size", "disk_tier", "cluster_name", "autodown",
                "idle_minutes_to_autostop", "retry_until_up", "network_tier",
            ),
            module="sky",
        ),
    )
}  # fmt: skip
"""Every executor runspec builds through nemo-run, by profile name."""

#: Requirements that are not a single key: the first key of a group that must hold a value.
_ONE_OF: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "docker": (_CONTAINER,),
    "dgxcloud": (_CONTAINER, ("client_id", "app_id"), ("client_secret", "app_secret")),
    "lepton": (_CONTAINER,),
}


def set_keys(env: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """The keys of ``run.env`` that hold a value, leaving out those equal to runspec's own
    defaults (``nodes``, ``gpus_per_node`` from the recipe, ``executor``)."""
    keys = []
    for key, value in env.items():
        if value is None or (key in defaults and defaults[key] == value):
            continue
        keys.append(key)
    return keys


def check_keys(
    name: str, env: Mapping[str, Any], defaults: Mapping[str, Any], *, image: str | None = None
) -> list[str]:
    """Warnings for runspec's keys in ``env`` that executor ``name`` cannot use; raise for
    missing ones.

    ``image`` is the recipe's own container image, which satisfies a required container.
    """
    entry = EXECUTORS[name]
    missing = [key for key in entry.required if env.get(key) in (None, "")]
    for group in _ONE_OF.get(name, ()):
        unset = all(env.get(key) in (None, "") for key in group)
        if unset and not (group == _CONTAINER and image):
            missing.append(group[0])
    if missing:
        raise ProfileError(_missing_message(name, missing), key=_missing_key(missing))
    # A key runspec does not know at all is reported by runspec itself, once.
    unused = [key for key in set_keys(env, defaults) if key in KNOWN_KEYS]
    unused = [key for key in unused if key not in entry.reads]
    warnings = [f"run.env.{key}: not used by the {name} executor (ignored)" for key in unused]
    nodes = env.get("nodes")
    if name in ONE_MACHINE and isinstance(nodes, int) and nodes > 1:
        warnings.append(f"run.env.nodes: the {name} executor runs on one machine (got {nodes})")
    return warnings


def _missing_key(missing: list[str]) -> str:
    return f"run.env.{missing[0]}" if len(missing) == 1 else "run.env"


def _missing_message(name: str, missing: list[str]) -> str:
    if len(missing) == 1:
        return f"the {name} executor needs it; set it in the profile"
    return f"the {name} executor needs {', '.join(missing)}; set them in the profile"
