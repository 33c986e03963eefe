"""Folders of the private test servers: one per server, in the temp folder, owned by a process.

A folder records its owner (the pid and start time of the test process that made it), so
that a later session can tell a server abandoned by a killed session (owner gone) from one
that another session is still using (owner alive), and stop only the former.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["abandoned_folders", "new_folder", "remove_folder"]

OWNER_FILE = "owner"


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ...": comm may hold spaces and parentheses; fields follow the last ')'.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _prefix(kind: str) -> str:
    return f"runspec-{kind}."


def new_folder(kind: str) -> Path:
    """A new folder ``runspec-KIND.XXXXXXXX`` in the temp folder, owned by this process.

    It is searchable by every user (munged insists, so that any user's jobs can reach it);
    what needs to be secret inside it is made 0600 by whoever writes it.
    """
    folder = Path(tempfile.mkdtemp(prefix=_prefix(kind), dir=tempfile.gettempdir()))
    folder.chmod(0o755)
    pid = os.getpid()
    (folder / OWNER_FILE).write_text(f"{pid} {_start_time(pid)}\n", encoding="utf-8")
    return folder


def _owner_alive(folder: Path) -> bool:
    try:
        pid, started = (folder / OWNER_FILE).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return False
    return pid.isdigit() and _start_time(int(pid)) == started


def abandoned_folders(kind: str) -> tuple[Path, ...]:
    """This user's folders of ``kind`` whose owning process has ended."""
    base = Path(tempfile.gettempdir())
    return tuple(
        folder
        for folder in sorted(base.glob(_prefix(kind) + "*"))
        if folder.is_dir()
        and not folder.is_symlink()
        and folder.stat().st_uid == os.geteuid()
        and (folder / OWNER_FILE).is_file()
        and not _owner_alive(folder)
    )


def remove_folder(folder: Path) -> None:
    """Remove ``folder`` and everything in it (another remover may race us: that is fine)."""
    shutil.rmtree(folder, ignore_errors=True)
