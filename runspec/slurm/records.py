"""Finding a Slurm job again by its id: the records runspec keeps of submitted jobs.

Every submitted job leaves a ``runspec.json`` in its job folder: argv, profile, job id,
submission time, git commit, where its output goes and, for a job sent over ssh, the
``remote`` target (host, user, port, identity, ssh options, ``remote_job_dir``). The
folders of jobs sent over ssh are kept under ``~/.runspec/jobs/<name>/<timestamp>/``
on the submitting machine, so ``runspec status``, ``cancel`` and ``logs`` find the
host of a job from any folder of that machine. A job id without a record is a job of
this machine's own cluster (a login node).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from .transport import LocalTransport, Transport

__all__ = ["Finder", "JobRecord", "find", "records"]


@dataclass(frozen=True)
class JobRecord:
    """A submitted Slurm job as its ``runspec.json`` describes it."""

    path: Path
    """The record file (over ssh: the local copy)."""
    data: Mapping[str, Any]

    @property
    def job_id(self) -> str:
        """Slurm's id of the job."""
        return str(self.data.get("job_id"))

    @property
    def host(self) -> str | None:
        """The login node the job was sent to over ssh; None for this machine's cluster."""
        remote = self.data.get("remote")
        return str(remote["host"]) if isinstance(remote, Mapping) else None

    @property
    def output(self) -> tuple[PurePath, PurePath] | None:
        """The job's stdout and stderr files, on the cluster."""
        found = self.data.get("output")
        if not isinstance(found, Mapping):
            return None
        return PurePath(str(found["stdout"])), PurePath(str(found["stderr"]))

    @property
    def submitted(self) -> float | None:
        """When the job was submitted (seconds since the epoch), if the record says."""
        import time

        try:
            return time.mktime(time.strptime(str(self.data["submitted"]), "%Y-%m-%dT%H:%M:%S%z"))
        except (KeyError, ValueError, OverflowError):
            return None

    def transport(self) -> Transport:
        """How to reach the job's login node again."""
        remote = self.data.get("remote")
        if not isinstance(remote, Mapping):
            return LocalTransport()
        from .remote import SshTransport
        from .ssh import SshTarget

        return SshTransport(SshTarget.from_record(remote))


def _root(home: str | None) -> Path:
    return Path(home or os.path.expanduser("~")) / ".runspec" / "jobs"


def records(home: str | None = None) -> Iterator[JobRecord]:
    """The Slurm job records under ``~/.runspec/jobs``, newest folder first."""
    root = _root(home)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return
    found = []
    for name in names:
        try:
            found += [(stamp, root / name / stamp) for stamp in os.listdir(root / name)]
        except OSError:
            continue
    for _, folder in sorted(found, reverse=True):
        record = _read(folder / "runspec.json")
        if record is not None and record.data.get("executor") == "slurm":
            yield record


def _read(path: Path) -> JobRecord | None:
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, ValueError):
        return None
    return JobRecord(path, data) if isinstance(data, dict) else None


def find(job_id: str, home: str | None = None) -> JobRecord | None:
    """The newest record of Slurm job ``job_id``, or None when there is none."""
    for record in records(home):
        if record.job_id == str(job_id):
            return record
    return None


class Finder:
    """Finds jobs' records and their login nodes; one transport (one connection) per node."""

    def __init__(self, home: str | None = None) -> None:
        self.home = home
        self._transports: dict[str, Transport] = {}

    def __call__(self, job_id: str) -> tuple[JobRecord | None, Transport]:
        """The newest record of ``job_id`` (None: a job of this machine) and its transport."""
        record = find(job_id, self.home)
        remote = record.data.get("remote") if record is not None else None
        key = json.dumps(remote, sort_keys=True)
        if key not in self._transports:
            self._transports[key] = record.transport() if record else LocalTransport()
        return record, self._transports[key]
