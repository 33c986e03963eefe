"""How runspec reaches the cluster: a :data:`Runner` for its programs, and a :class:`Transport`.

Every Slurm program (``sbatch``, ``scontrol``, ``sacct``, ``squeue``, ``scancel``) and
``git`` is called through a runner, ``argv -> (exit code, stdout, stderr)``, so that
tests can inject one. :func:`run_program` runs the program on this machine.

A transport adds what submitting and following need beyond running programs: where
the files of a job folder are written (:meth:`Transport.stage`), how they and the code
snapshot reach the cluster before ``sbatch`` runs (:meth:`Transport.submit`), and how
a job's output files are read and followed (:meth:`Transport.read`,
:meth:`Transport.tap`). :class:`LocalTransport` is this machine (a login node: the
files are written in place); :class:`runspec.slurm.remote.SshTransport` is a login
node over ssh. The code that submits and follows jobs is the same for both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .snapshot import Snapshot

__all__ = [
    "Code",
    "FileTap",
    "LocalTransport",
    "Runner",
    "Sink",
    "Tap",
    "Transport",
    "remove_folder",
    "run_program",
]

Runner = Callable[[Sequence[str]], "tuple[int, str, str]"]
"""Runs a program: ``argv -> (exit code, stdout, stderr)``."""

_TIMEOUT_SECONDS = 60


def run_program(argv: Sequence[str], cwd: str | None = None) -> tuple[int, str, str]:
    """Run ``argv`` and capture its output; a missing program is exit code 127."""
    import subprocess

    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, cwd=cwd,
            timeout=_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]}: no answer within {_TIMEOUT_SECONDS} s"
    return done.returncode, done.stdout, done.stderr


@dataclass(frozen=True)
class Code:
    """A code snapshot and the folder on the cluster where the job finds it."""

    snapshot: Snapshot
    folder: PurePath


class Sink(Protocol):
    """Where a tap copies to: a binary stream."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``."""

    def flush(self) -> None:
        """Pass on what was written."""


class Tap(Protocol):
    """Copies what a job's output file gains to a stream, from ``offset`` on."""

    offset: int
    """How many bytes of the file were copied so far."""

    def fileno(self) -> int | None:
        """A descriptor that becomes readable when data arrives; None: call :meth:`pump`."""

    def pump(self) -> bool:
        """Copy what arrived; False when the tap stopped on its own (a lost connection)."""

    def restart(self) -> None:
        """Follow again from ``offset`` (after :meth:`pump` returned False)."""

    def close(self) -> None:
        """Stop following (what was not copied yet stays unread)."""


class Transport(Protocol):
    """A cluster's login node as runspec reaches it: this machine, or one over ssh."""

    host: str | None
    """The login node's name in messages; None for this machine."""

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """Run a program on the login node (a :data:`Runner`)."""

    def stage(self, folder: PurePath) -> Path:
        """The local folder where the files of the cluster's ``folder`` are written first."""

    def location(self, path: PurePath) -> str:
        """``path`` on the cluster as messages show it (``host:path`` over ssh)."""

    def code_folder(self, snapshot_id: str, job_folder: PurePath) -> PurePath:
        """Where the job of ``job_folder`` finds the code snapshot ``snapshot_id``."""

    def record_fields(self) -> dict[str, object]:
        """What a job record keeps to reach the job again (the ssh target)."""

    def submit(
        self, folders: Sequence[PurePath], command: Sequence[str], code: Code | None
    ) -> tuple[int, str, str]:
        """Put the staged ``folders`` and ``code`` on the cluster, then run ``command``."""

    def discard(self, folders: Sequence[PurePath]) -> None:
        """Remove job folders whose job was not submitted, here and on the cluster."""

    def read(self, files: Sequence[tuple[PurePath, int]]) -> list[bytes | None]:
        """Each file's bytes from an offset on (None when the file does not exist); a
        negative offset reads the last ``-offset`` bytes."""

    def tap(self, path: PurePath, offset: int, sink: Sink) -> Tap:
        """Start following ``path`` from ``offset``, copying to ``sink``."""

    def reconnect(self) -> None:
        """Reach the login node again after a lost connection (raises when it cannot)."""


class FileTap:
    """A tap on a file this machine can read: polled, no descriptor to wait on."""

    def __init__(self, path: Path, offset: int, sink: Sink) -> None:
        self.path, self.offset, self.sink = path, offset, sink

    def fileno(self) -> int | None:
        """Files are always readable: polled instead."""
        return None

    def pump(self) -> bool:
        """Copy what the file gained since the last call."""
        try:
            with open(self.path, "rb") as source:
                source.seek(self.offset)
                data = source.read()
        except FileNotFoundError:
            return True
        if data:
            self.offset += len(data)
            self.sink.write(data)
            self.sink.flush()
        return True

    def restart(self) -> None:
        """Nothing to restart."""

    def close(self) -> None:
        """Nothing to stop."""


class LocalTransport:
    """This machine is the login node: job folders are written where the job reads them."""

    host: str | None = None

    def __init__(self, runner: Runner | None = None) -> None:
        self._runner = runner

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """Run a program here."""
        return (self._runner or run_program)(argv)

    def stage(self, folder: PurePath) -> Path:
        """The folder itself."""
        return Path(folder)

    def location(self, path: PurePath) -> str:
        """The path."""
        return str(path)

    def code_folder(self, snapshot_id: str, job_folder: PurePath) -> PurePath:
        """A copy of its own in the job folder, ``code/``."""
        return job_folder / "code"

    def record_fields(self) -> dict[str, object]:
        """Nothing: the job is on this machine's cluster."""
        return {}

    def submit(
        self, folders: Sequence[PurePath], command: Sequence[str], code: Code | None
    ) -> tuple[int, str, str]:
        """Copy the code snapshot into place, then run ``command`` in the first folder."""
        if code is not None:
            _copy_snapshot(code.snapshot, Path(code.folder))
        if self._runner is not None:
            return self._runner(command)
        return run_program(command, cwd=str(folders[0]))

    def discard(self, folders: Sequence[PurePath]) -> None:
        """Remove each folder, and its parent when that is left empty."""
        for folder in folders:
            remove_folder(Path(folder))

    def read(self, files: Sequence[tuple[PurePath, int]]) -> list[bytes | None]:
        """Read each file from its offset."""
        found: list[bytes | None] = []
        for path, offset in files:
            try:
                with open(path, "rb") as source:
                    source.seek(
                        offset
                        if offset >= 0
                        else max(0, os.fstat(source.fileno()).st_size + offset)
                    )
                    found.append(source.read())
            except FileNotFoundError:
                found.append(None)
        return found

    def tap(self, path: PurePath, offset: int, sink: Sink) -> Tap:
        """Poll the file."""
        return FileTap(Path(path), offset, sink)

    def reconnect(self) -> None:
        """Nothing to reconnect."""


def _copy_snapshot(snapshot: Snapshot, target: Path) -> None:
    """Copy the snapshot's files into ``target``, as they are now."""
    import shutil

    for relative in snapshot.paths:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(snapshot.root / relative, destination, follow_symlinks=False)


def remove_folder(folder: Path) -> None:
    """Remove a job folder and everything in it, and its parent if that is left empty."""
    import contextlib
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(folder.parent)  # the job name's folder, when this was its only job
