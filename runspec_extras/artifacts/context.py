"""The artifacts of this process: its configured registry, and using and publishing in a job.

:func:`use` is what ``${art:...}`` and ``art://`` call: inside a runspec job it
resolves a reference once for all ranks and records the version in the job folder;
:func:`publish` makes those recorded versions the inputs of what the job publishes and
the job (its folder and ``runspec.json``) its producer. Outside a job both work on the
configured registry directly. With ``[artifacts] wandb = true`` both are also tracked
in W&B (:mod:`runspec_extras.wandb_tracking`).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .registry import Registry
from .settings import Settings
from .usage import job_dir, record_use, resolve_once, used
from .version import Input, Version

__all__ = ["clear_cache", "configured_registry", "producer", "publish", "use"]

_registries: dict[tuple[str, str], Registry] = {}
_resolved: dict[tuple[str, str], Version] = {}


def clear_cache() -> None:
    """Forget the registries opened and the references resolved by this process."""
    _registries.clear()
    _resolved.clear()


def configured_registry(settings: Settings | None = None) -> Registry:
    """The registry of ``settings`` (default: :meth:`Settings.find`), opened once."""
    chosen = settings or Settings.find()
    root = chosen.require_root()
    key = (root, json.dumps(dict(chosen.storage_options), sort_keys=True, default=str))
    if key not in _registries:
        _registries[key] = Registry(root, chosen.storage_options)
    return _registries[key]


def use(reference: str, *, via: str, settings: Settings | None = None) -> Version:
    """Resolve ``reference`` for this process (once per job) and record that it was used."""
    chosen = settings or Settings.find()
    registry = configured_registry(chosen)
    cached = _resolved.get((registry.root, reference))
    if cached is not None:
        return cached
    folder = job_dir()
    if folder is None:
        version = registry.resolve(reference)
    else:
        version = resolve_once(registry, reference, folder)
        record_use(folder, version, via)
    _resolved[(registry.root, reference)] = version
    if chosen.wandb:
        from ..wandb_tracking import record_use as track_use

        track_use(version)
    return version


def producer(folder: Path | None = None) -> dict[str, Any]:
    """Who is publishing: host, user and, inside a job, its folder and ``runspec.json``."""
    folder = folder or job_dir()
    record = None
    if folder is not None and (folder / "runspec.json").is_file():
        record = json.loads((folder / "runspec.json").read_text(encoding="utf-8"))
    return {
        "job_dir": str(folder) if folder else None,
        "record": record,
        "host": socket.gethostname(),
        "user": _user(),
    }


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER")


def publish(
    name: str,
    source: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    mode: str = "copy",
    inputs: Iterable[Input | Version] = (),
    settings: Settings | None = None,
) -> Version:
    """Publish ``source`` as the next version of ``name`` in the configured registry.

    Inside a job the versions the job used become its inputs (with ``inputs``), and
    the job becomes its producer. Call it from one rank only.
    """
    chosen = settings or Settings.find()
    registry = configured_registry(chosen)
    version = registry.publish(
        name, str(source), metadata=metadata, mode=mode,
        inputs=[*used(job_dir()), *inputs], producer=producer(),
    )  # fmt: skip
    if chosen.wandb:
        from ..wandb_tracking import log_version

        log_version(version)
    return version
