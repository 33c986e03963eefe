"""Starting the steps: each in a process group of its own, joined by OS pipes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import PipelineError
from .reaper import parent_death_signal
from .steps import step_label

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Sequence
    from typing import IO, Any

    from .steps import Step

    Stream = int | IO[Any] | None
    StartOne = Callable[[int, Step, Stream, Stream, str | None], None]

__all__ = ["Child", "start_child", "start_joined"]


@dataclass
class Child:
    """A started step and what the engine has learnt about it (internal, mutable)."""

    index: int
    name: str
    proc: subprocess.Popen[bytes]
    stdin_link: str | None  # "pipe:[inode]" of the pipe it reads, as /proc shows it
    pidfd: int | None
    returncode: int | None = None

    @property
    def pid(self) -> int:
        """The step's pid, also the id of its process group."""
        return self.proc.pid


def start_joined(
    steps: Sequence[Step], stdin: Stream, stdout: Stream, start_one: StartOne
) -> None:
    """Call ``start_one(index, step, reader, writer, link)`` for each step, joined by pipes.

    The first step reads ``stdin``, the last writes to ``stdout``; ``link`` names the
    pipe a step reads as ``/proc`` shows it (None for the first step). When a step
    cannot start, the pipe ends not handed out yet are closed and the error re-raised.
    """
    pipes = [os.pipe() for _ in steps[1:]]
    unclaimed = {fd for pair in pipes for fd in pair}
    try:
        for index, step in enumerate(steps):
            reader = stdin if index == 0 else pipes[index - 1][0]
            writer = stdout if index == len(steps) - 1 else pipes[index][1]
            link = None if index == 0 else _pipe_link(pipes[index - 1][0])
            start_one(index, step, reader, writer, link)
            # Our copies would keep EOF and SIGPIPE from reaching the steps.
            for fd in (reader, writer):
                if isinstance(fd, int) and fd in unclaimed:
                    unclaimed.discard(fd)
                    os.close(fd)
    except BaseException:
        for fd in unclaimed:
            os.close(fd)
        raise


def start_child(
    index: int,
    step: Step,
    stdin: Stream,
    stdout: Stream,
    stderr: int | None,
    link: str | None,
) -> Child:
    """Start one step; raise :class:`PipelineError` naming it when it cannot start."""
    proc = _spawn(index, step, stdin, stdout, stderr)
    return Child(index, step.name, proc, link, _open_pidfd(proc.pid))


def _spawn(
    index: int, step: Step, stdin: Stream, stdout: Stream, stderr: int | None
) -> subprocess.Popen[bytes]:
    import subprocess

    try:
        return subprocess.Popen(
            step.argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=None if step.env is None else dict(step.env),
            cwd=step.cwd,
            preexec_fn=parent_death_signal(),
            **_isolation(stdin),
        )
    except (OSError, ValueError) as exc:
        raise PipelineError(
            _spawn_message(step, exc), key=step_label(index, step.name)
        ) from exc


def _isolation(stdin: Stream) -> dict[str, Any]:
    """Popen options that give a step its own process group, whose id is its pid.

    A plain process group where possible (3.11+): a new session per step would also
    be a scheduling group of its own where the kernel groups by session
    (autogroup), which measurably slows a pipeline. A step reading a terminal gets
    a new session all the same, since in a background group of the terminal's
    session reading it would stop the step (SIGTTIN), e.g. at a ``breakpoint()``.
    """
    if sys.version_info < (3, 11) or _is_terminal(stdin):
        return {"start_new_session": True}
    return {"process_group": 0}


def _is_terminal(stream: Stream) -> bool:
    if stream is None:
        stream = 0
    try:
        fd = stream if isinstance(stream, int) else stream.fileno()
        return fd >= 0 and os.isatty(fd)
    except (OSError, ValueError):
        return False


def _spawn_message(step: Step, exc: Exception) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    failed_at = getattr(exc, "filename", None)
    if step.cwd is not None and failed_at == step.cwd and failed_at != step.argv[0]:
        return f"cannot change to directory {step.cwd!r}: {reason}"
    return f"cannot run {step.argv[0]!r}: {reason}"


def _open_pidfd(pid: int) -> int | None:
    """Return a descriptor readable once ``pid`` exits, where the OS has one."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _pipe_link(fd: int) -> str:
    """Return how ``/proc/PID/fd/N`` names the pipe ``fd`` belongs to."""
    return f"pipe:[{os.fstat(fd).st_ino}]"
