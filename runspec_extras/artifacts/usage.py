"""What a job used: artifact versions recorded in its folder, resolved once for all ranks.

Inside a runspec job (``$RUNSPEC_JOB_DIR`` set) the job folder holds::

    artifacts/resolved/<key>.json   what a reference resolved to, written by rank 0
    artifacts/used/<key>.json       one file per version the job used (its inputs)

Rank 0 (``$RANK``, else ``$SLURM_PROCID``, ...; a lone process is rank 0) resolves a
reference and writes the result; the other ranks wait for that file, so every rank
of a job, and every later use in the same job, sees the same version even when a new
one is published meanwhile. A failure on rank 0 is written too, so the others stop
with the same message instead of waiting.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from runspec._files import write_atomic

from .errors import ArtifactError
from .registry import Registry
from .version import Input, Version

__all__ = ["TIMEOUT_VAR", "job_dir", "rank", "record_use", "resolve_once", "used"]

TIMEOUT_VAR = "RUNSPEC_ARTIFACTS_TIMEOUT"
_RANK_VARS = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")
_DEFAULT_TIMEOUT = 600.0


def job_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the runspec job this process belongs to, if any."""
    value = (os.environ if environ is None else environ).get("RUNSPEC_JOB_DIR")
    return Path(value) if value else None


def rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's global rank in its job (0 when no launcher says otherwise)."""
    env = os.environ if environ is None else environ
    for name in _RANK_VARS:
        value = env.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def resolve_once(
    registry: Registry,
    reference: str,
    folder: Path,
    *,
    environ: Mapping[str, str] | None = None,
) -> Version:
    """Resolve ``reference`` once for the job in ``folder``; ranks other than 0 wait."""
    path = folder / "artifacts" / "resolved" / f"{_key(registry.root, reference)}.json"
    if not path.exists() and rank(environ) == 0:
        head = {"reference": reference, "root": registry.root}
        try:
            found: dict[str, object] = {**head, **registry.resolve(reference).to_record()}
        except ArtifactError as exc:
            found = {**head, "error": str(exc)}
        data = _save_first(path, found)
    else:
        data = _wait_for(path, reference, environ)
    if "error" in data:
        raise ArtifactError(str(data["error"]))
    return Version.from_record(data)


def _save(path: Path, data: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _save_first(path: Path, data: dict[str, object]) -> dict[str, object]:
    """Write ``data`` to ``path`` unless another process did first; return what is there."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _save(temporary, data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        loaded: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    finally:
        temporary.unlink()
    return data


def _wait_for(path: Path, reference: str, environ: Mapping[str, str] | None) -> dict[str, object]:
    env = os.environ if environ is None else environ
    try:
        timeout = float(env.get(TIMEOUT_VAR) or _DEFAULT_TIMEOUT)
    except ValueError:
        raise ArtifactError(f"{TIMEOUT_VAR} must be a number of seconds") from None
    deadline = time.monotonic() + timeout
    pause = 0.01
    while not path.exists():
        if time.monotonic() >= deadline:
            raise ArtifactError(
                f"waited {timeout:g}s for rank 0 to resolve {reference!r} into {path}; "
                f"is rank 0 running? (set {TIMEOUT_VAR} to wait longer)"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    loaded: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def record_use(folder: Path, version: Version, via: str) -> None:
    """Note in the job folder that the job used ``version`` (through ``via``)."""
    key = _key(version.root, version.name, str(version.version))
    path = folder / "artifacts" / "used" / f"{key}.json"
    if not path.exists():
        _save(path, {**Input(version.name, version.version, version.root).to_dict(), "via": via})


def used(folder: Path | None) -> tuple[Input, ...]:
    """The versions the job in ``folder`` used, in the order they were first recorded."""
    if folder is None:
        return ()
    files = (folder / "artifacts" / "used").glob("*.json")
    found = sorted(files, key=lambda path: path.stat().st_mtime_ns)
    return tuple(Input.from_dict(json.loads(p.read_text(encoding="utf-8"))) for p in found)
