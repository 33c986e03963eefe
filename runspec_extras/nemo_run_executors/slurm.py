"""nemo-run's ``SlurmExecutor`` and its tunnel: submit from here (``local``) or over SSH.

runspec's own Slurm path needs no extra; this one is for teams that want nemo-run's
experiment tracking on Slurm too. nemo-run runs the job in a container only when an image
is set (pyxis), and otherwise from the shipped code folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runspec.errors import ProfileError, SlurmError

from ._nemo_run import nemo_run
from .failures import describe_failure
from .request import ExecutorRequest

__all__ = ["job_exit_code", "require_accounting", "slurm_fields", "tunnel"]

_OWN = (
    "account", "qos", "constraint", "exclusive", "cpus_per_task", "cpus_per_gpu",
    "gpus_per_task", "exclude", "gres", "array", "srun_args",
)  # fmt: skip
_TEXT = ("mem", "mem_per_gpu", "mem_per_cpu", "time")


def slurm_fields(request: ExecutorRequest, job_dir: str) -> dict[str, Any]:
    """``SlurmExecutor`` keyword arguments; ``job_dir`` is where a local tunnel keeps jobs."""
    fields: dict[str, Any] = {
        "partition": request.partition,
        "nodes": request.nodes,
        "ntasks_per_node": request.get("ntasks_per_node", 1),
        "container_image": request.image,
        "container_mounts": list(request.get("mounts", [])),
        "env_vars": dict(request.env_vars),
        "tunnel": tunnel(request, job_dir),
        "job_name_prefix": str(request.get("job_name_prefix", "runspec-")),
        # The start-time poller prints from a thread of its own; a detached run leaves at once
        # and would leave it printing into whatever reads its stdout.
        "poll_estimated_start_time": not request.detached,
        **request.options(*_OWN),
        **{key: request.text(key) for key in _TEXT},
    }
    if request.launch == "torchrun":
        fields["torchrun_nproc_per_node"] = request.nproc_per_node
    if request.gpus_per_node > 0:
        fields["gpus_per_node"] = request.gpus_per_node
    if request.setup:
        fields["setup_lines"] = "\n".join(request.setup)
    extra = _sbatch_options(request.get("sbatch", {}))
    if extra:
        fields["additional_parameters"] = extra
    return fields


def _sbatch_options(table: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's ``sbatch`` table as nemo-run takes it: ``true`` a bare flag, ``false`` left
    out."""
    return {str(key): value for key, value in table.items() if value is not False}


def tunnel(request: ExecutorRequest, job_dir: str) -> Any:
    """``LocalTunnel`` (the default, ``tunnel = "local"``) or ``SSHTunnel`` (``tunnel = "ssh"``
    with ``host``, ``user``, ``remote_job_dir`` and optionally ``identity`` and ``port``)."""
    if request.get("tunnel", "local") == "local":  # runspec has checked it is local or ssh
        return nemo_run.LocalTunnel(job_dir=request.text("remote_job_dir") or job_dir)
    missing = [key for key in ("host", "user", "remote_job_dir") if not request.get(key)]
    if missing:
        message = f"an ssh tunnel needs {', '.join(missing)}; set them in the profile"
        raise ProfileError(message, key="run.env.tunnel")
    return nemo_run.SSHTunnel(
        host=str(request.get("host")),
        user=str(request.get("user")),
        job_dir=str(request.get("remote_job_dir")),
        identity=request.text("identity"),
        port=request.get("port"),
    )


def require_accounting(executor: Any) -> None:
    """Refuse to follow a job where ``sacct`` fails, before anything is submitted.

    nemo-run waits for an attached Slurm job by asking ``sacct``; where that keeps failing
    (a cluster without accounting) it gives up after about a minute and cancels the job.
    """
    try:
        done = executor.tunnel.run("sacct --noheader --allocations --jobs 1", hide=True, warn=True)
    except Exception as exc:
        raise SlurmError(f"cannot reach the cluster to ask sacct: {describe_failure(exc)}") from exc
    if done.return_code == 0:
        return
    said = (done.stderr or done.stdout).strip().splitlines()
    reason = said[0] if said else f"exit code {done.return_code}"
    raise SlurmError(
        f"nemo-run follows an attached Slurm job with sacct, which fails here ({reason}); "
        "submit it instead (runspec submit, or run -b), or run it through runspec's own "
        'Slurm path (launcher = "runspec")'
    )


def job_exit_code(executor: Any, job_id: str) -> int | None:
    """A finished job's exit code as a shell gives it (128 + the signal of a killed job),
    from ``sacct`` through the executor's tunnel; None when sacct does not say, or says 0."""
    command = f"sacct --noheader --allocations --parsable2 --format=ExitCode --jobs {job_id}"
    try:
        done = executor.tunnel.run(command, hide=True, warn=True)
    except Exception:  # the state is known already; the exit code only adds to it
        return None
    lines = (done.stdout or "").split()
    code, _, signal = (lines[0] if lines and done.return_code == 0 else "").partition(":")
    if not code.isdigit():
        return None
    number = 128 + int(signal) if signal.isdigit() and int(signal) else int(code)
    return number or None
