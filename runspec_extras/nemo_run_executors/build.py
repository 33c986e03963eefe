"""Build a job's nemo-run executor: the fields from its profile, its code packager, its launcher."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runspec.errors import MissingExtraError
from runspec.job import Job

from ._nemo_run import nemo_run
from .cloud import dgxcloud_fields, lepton_fields, skypilot_fields
from .docker import docker_fields
from .keys import EXECUTORS
from .local import local_fields
from .packagers import SHIPPED_CONFIG, CodePlan, code_plan
from .request import ExecutorRequest
from .slurm import slurm_fields
from .task import launcher_for

__all__ = ["Prepared", "build_executor", "executor_fields", "prepare"]

_FIELDS: dict[str, Callable[[ExecutorRequest], dict[str, Any]]] = {
    "local": local_fields,
    "docker": docker_fields,
    "dgxcloud": dgxcloud_fields,
    "lepton": lepton_fields,
    "skypilot": skypilot_fields,
}


def _warn(message: str) -> None:
    print(f"runspec: warning: {message}", file=sys.stderr)


def executor_fields(request: ExecutorRequest, *, tunnel_dir: str = "") -> dict[str, Any]:
    """The nemo-run executor's keyword arguments for ``request`` (packager and launcher
    aside); ``tunnel_dir`` is where a local Slurm tunnel keeps its jobs."""
    if request.executor == "slurm":
        return slurm_fields(request, tunnel_dir)
    return _FIELDS[request.executor](request)


@dataclass(frozen=True)
class Prepared:
    """A job's executor with what running it needs: the request and the code plan."""

    request: ExecutorRequest
    code: CodePlan
    executor: Any


def prepare(
    job: Job,
    staging: Path,
    *,
    detached: bool = False,
    tunnel_dir: str = "",
    local_config: Path | None = None,
    warn: Callable[[str], None] = _warn,
) -> Prepared:
    """Read ``job``'s profile, tell ``warn`` what is ignored, and build its executor.

    The job config is written to ``staging/.runspec/`` for the code packager to ship;
    a job that ships no code reads ``local_config`` (default: the staged copy).
    """
    request = ExecutorRequest.from_job(job, detached=detached)
    for warning in request.warnings:
        warn(warning)
    _require_module(request.executor)
    staged = _stage_config(job, staging)
    script = job.spec.script_path
    plan = code_plan(request.get("code"), script, request.executor, staged, local_config or staged)
    for note in plan.notes:
        warn(note)
    kind = getattr(nemo_run, EXECUTORS[request.executor].cls)
    executor = kind(
        packager=plan.packager,
        launcher=launcher_for(request.launch, request.executor),
        **executor_fields(request, tunnel_dir=tunnel_dir),
    )
    return Prepared(request, plan, executor)


def build_executor(job: Job, *, detached: bool = False, staging: Path | None = None) -> Any:
    """The ``nemo_run.Executor`` for ``job``'s profile (``executor`` = local, slurm, docker,
    dgxcloud, lepton or skypilot); keys it cannot use are warned about on stderr.

    Its packager ships the job config from ``staging`` (default: the job folder's
    ``shipped/``), where it is written now.
    """
    if staging is None:
        if job.dir is None:
            raise ValueError("a job without a folder needs staging= for its shipped config")
        staging = job.dir / "shipped"
    return prepare(job, staging, detached=detached).executor


def _stage_config(job: Job, staging: Path) -> Path:
    """Write the job config, in the recipe's format, where the packager takes it from."""
    import dataclasses

    from runspec._files import write_atomic
    from runspec._masking import has_secrets

    named = (
        job.config_file.name if job.dir else dataclasses.replace(job, dir=staging).config_file.name
    )
    path = staging / SHIPPED_CONFIG / named
    path.parent.mkdir(parents=True, exist_ok=True)
    text = job.config_document()
    write_atomic(path, text, 0o600 if has_secrets(job.config) else 0o644)
    return path


def _require_module(executor: str) -> None:
    module = EXECUTORS[executor].module
    if module != "nemo_run" and importlib.util.find_spec(module) is None:
        message = (
            f"executor {executor!r} needs nemo-run's {executor} support: "
            f"pip install 'nemo-run[{executor}]'"
        )
        raise MissingExtraError(message, key="executor")
