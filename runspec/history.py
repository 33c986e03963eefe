"""The jobs runspec has run: found from their records, with their state now.

Every job leaves a ``runspec.json`` in its folder (see :func:`runspec.job.write_record`).
:func:`recent` reads the newest records under the job roots of this project and of the
user: the project's ``.runspec/jobs`` (local runs), ``~/.runspec/jobs`` (Slurm jobs,
and the records of jobs sent over ssh), and the ``job_dir``/``remote_job_dir`` folders
the env.toml in use names for this machine. Folders are ordered by the time stamp in
their names, so only the newest records are read.

A local job's state comes from its record and its runner process: ``RUNNING`` while
the runspec process that started it lives, then ``COMPLETED``, ``FAILED``,
``CANCELLED`` (runspec was interrupted) or ``ERROR`` (it could not start the job);
``LOST`` when that process ended without saying how. The states of Slurm jobs are
asked in one query per cluster (:func:`runspec.slurm.states.states`); a finished job's
final state is kept in its record so it is never asked again.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

__all__ = ["JobEntry", "find_local", "job_roots", "local_state", "read_record", "recent"]

_STAMP = re.compile(r"\d{8}-\d{6}")
_INTERRUPTS = {130: "SIGINT", 143: "SIGTERM", 129: "SIGHUP"}


@dataclass(frozen=True)
class JobEntry:
    """One job as ``runspec jobs`` lists it."""

    id: str
    """The Slurm job id; for a local job, its folder's name."""
    recipe: str
    profile: str | None
    where: str
    """``local``, ``slurm`` (this machine's cluster) or ``slurm@HOST`` (over ssh)."""
    state: str
    exit_code: int | None
    start: str | None
    """When the job started (or was submitted), ``YYYY-MM-DDTHH:MM:SS``."""
    duration: float | None
    """Seconds it ran (so far, while running)."""
    record: Path
    data: Mapping[str, Any]

    @property
    def executor(self) -> str:
        """``local``, ``slurm``, or an executor of the nemo-run extra."""
        return str(self.data.get("executor", "local"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every column, plus the job folder."""
        return {
            "id": self.id, "recipe": self.recipe, "profile": self.profile,
            "where": self.where, "state": self.state, "exit_code": self.exit_code,
            "start": self.start, "duration": self.duration, "folder": str(self.record.parent),
        }  # fmt: skip


def job_roots(project: Path | None = None, home: str | None = None) -> list[Path]:
    """The folders whose job folders are listed, without duplicates."""
    from .project import state_dir

    user = Path(home or os.path.expanduser("~")) / ".runspec" / "jobs"
    roots = [state_dir(project) / "jobs", user, *_profile_roots()]
    unique: dict[str, Path] = {}
    for folder in roots:
        unique.setdefault(os.path.realpath(folder), folder)
    return list(unique.values())


def _profile_roots() -> list[Path]:
    """The plain ``job_dir``/``remote_job_dir`` folders of the env.toml in use (this
    machine's; none over ssh, none holding a ``${...}`` reference)."""
    from .errors import RunspecError
    from .profiles import EnvFile, find_env_file

    try:
        path = find_env_file()
        if path is None:
            return []
        envfile = EnvFile.load(path)
    except RunspecError:
        return []
    found = []
    for name in envfile.profile_names:
        try:
            values = envfile.resolve(name).values
        except RunspecError:
            continue
        if values.get("tunnel") == "ssh":
            continue
        for key in ("job_dir", "remote_job_dir"):
            value = values.get(key)
            if isinstance(value, str) and value and "${" not in value:
                found.append(Path(os.path.expanduser(value)))
    return found


def _folders(root: Path) -> Iterator[tuple[str, Path]]:
    """``(time stamp, folder)`` of the job folders under ``root``: ``<stamp>-<name>/``
    (local) or ``<name>/<stamp>/`` (Slurm)."""
    for entry in _listing(root):
        stamp = _STAMP.match(entry.name)
        if stamp is not None:
            yield stamp.group(), Path(entry.path)
            continue
        for inner in _listing(Path(entry.path)):
            stamp = _STAMP.match(inner.name)
            if stamp is not None:
                yield stamp.group(), Path(inner.path)


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return [entry for entry in found if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def read_record(path: Path) -> dict[str, Any] | None:
    """A job record's data; None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _records(roots: Sequence[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every record under ``roots``, newest folder first."""
    folders = sorted((pair for root in roots for pair in _folders(root)), reverse=True)
    for _, folder in folders:
        data = read_record(folder / "runspec.json")
        if data is not None:
            yield folder / "runspec.json", data


def recent(
    count: int, *, roots: Sequence[Path] | None = None, refresh: bool = True
) -> list[JobEntry]:
    """The ``count`` newest jobs, newest first; Slurm states asked for when ``refresh``.

    The steps of a Slurm pipeline (one batch job) are one entry.
    """
    entries: list[JobEntry] = []
    seen: dict[tuple[str, str], int] = {}
    for path, data in _records(job_roots() if roots is None else roots):
        entry = _entry(path, data)
        if entry.executor == "slurm":
            key = (entry.where, entry.id)
            if key in seen:
                first = entries[seen[key]]
                entries[seen[key]] = replace(first, recipe=f"{entry.recipe} + {first.recipe}")
                continue
            seen[key] = len(entries)
        if len(entries) == count:
            break
        entries.append(entry)
    return _refreshed(entries) if refresh else entries


def _entry(path: Path, data: Mapping[str, Any]) -> JobEntry:
    executor = str(data.get("executor", "local"))
    name = str(data.get("recipe") or data.get("name") or _name_from(path.parent))
    if executor != "slurm":
        state, code, duration = local_state(data)
        return JobEntry(
            path.parent.name, name, data.get("profile"), executor, state, code,
            _iso(data.get("submitted")), duration, path, data,
        )  # fmt: skip
    remote = data.get("remote")
    where = f"slurm@{remote['host']}" if isinstance(remote, Mapping) else "slurm"
    return JobEntry(
        str(data.get("job_id")), name, data.get("profile"), where, "SUBMITTED", None,
        _iso(data.get("submitted")), None, path, data,
    )  # fmt: skip


def _name_from(folder: Path) -> str:
    stamp = _STAMP.match(folder.name)
    if stamp is not None and len(folder.name) > stamp.end() + 1:
        return folder.name[stamp.end() + 1 :]
    return folder.parent.name


def _iso(text: object) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` of a record's time stamp (its offset dropped)."""
    return text[:19] if isinstance(text, str) and len(text) >= 19 else None


def _epoch(text: object) -> float | None:
    try:
        return time.mktime(time.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return None


def local_state(data: Mapping[str, Any]) -> tuple[str, int | None, float | None]:
    """State, exit code and duration of a local job, from its record and its runner."""
    started, ended = _epoch(data.get("submitted")), _epoch(data.get("ended"))
    duration = data.get("duration")
    if not isinstance(duration, (int, float)):
        duration = ended - started if started is not None and ended is not None else None
    if data.get("error") is not None:
        return "ERROR", None, duration
    code = data.get("exit_code")
    if isinstance(code, int):
        if code == 0:
            return "COMPLETED", 0, duration
        return ("CANCELLED" if code in _INTERRUPTS else "FAILED"), code, duration
    if data.get("host") not in (None, os.uname().nodename):
        return "UNKNOWN", None, None  # started on another machine: its process is not here
    if _runner_alive(data.get("job_id"), started):
        return "RUNNING", None, time.time() - started if started is not None else None
    return "LOST", None, None


def _runner_alive(pid_text: object, since: float | None) -> bool:
    """Whether the runspec process ``pid`` that wrote the record still runs (and is the
    same process: one started by then, not a later one that reused its id)."""
    try:
        pid = int(str(pid_text))
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    started = _process_start(pid)
    return started is None or since is None or started <= since + 2


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where /proc says."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            ticks = int(stream.read().rpartition(")")[2].split()[19])
        with open("/proc/stat", encoding="ascii") as stream:
            boot = next(int(line.split()[1]) for line in stream if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _refreshed(entries: list[JobEntry]) -> list[JobEntry]:
    """The entries with the states of their Slurm jobs, one query per cluster."""
    from .slurm.states import kept_state, states

    asking: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        if entry.executor != "slurm":
            continue
        kept = kept_state(entry.data)
        if kept is not None:
            entries[index] = _with_state(entry, kept)
        else:
            host = json.dumps(entry.data.get("remote"), sort_keys=True)
            asking.setdefault(host, []).append(index)
    for indices in asking.values():
        transport = _transport(entries[indices[0]])
        answer = states([entries[i].id for i in indices], transport.run)
        for index in indices:
            found = answer.get(entries[index].id)
            if found is not None:
                entries[index] = _with_state(entries[index], found)
                if found.finished:
                    _keep(entries[index].record, found)
    return entries


def _transport(entry: JobEntry) -> Any:
    from .slurm.records import JobRecord

    return JobRecord(entry.record, entry.data).transport()


def _with_state(entry: JobEntry, found: Any) -> JobEntry:
    start = found.start or entry.start
    return replace(
        entry, state=found.state, exit_code=found.exit_code, duration=found.elapsed, start=start
    )


def _keep(record: Path, found: Any) -> None:
    """Save a finished Slurm job's final state in its record (best effort)."""
    from ._files import write_atomic

    data = read_record(record)
    if data is None:
        return
    data["slurm_state"] = {
        "state": found.state, "exit_code": found.exit_code,
        "elapsed": found.elapsed, "start": found.start,
    }  # fmt: skip
    try:
        mode = os.stat(record).st_mode & 0o777
        write_atomic(record, json.dumps(data, indent=2, ensure_ascii=False) + "\n", mode)
    except OSError:
        pass  # a record we may not write: asked again next time


def find_local(word: str, roots: Sequence[Path] | None = None) -> JobEntry | None:
    """The local job named ``word``: its folder (a path), or its folder's name."""
    folder = Path(word)
    if (folder / "runspec.json").is_file():
        data = read_record(folder / "runspec.json")
        return _entry(folder / "runspec.json", data) if data is not None else None
    if "/" in word or not _STAMP.match(word):
        return None
    for root in job_roots() if roots is None else roots:
        path = root / word / "runspec.json"
        data = read_record(path) if path.is_file() else None
        if data is not None:
            return _entry(path, data)
    return None
