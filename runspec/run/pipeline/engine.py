"""Steps run as real OS processes, stdout of each feeding stdin of the next.

A local run of one recipe is a pipeline of one step, so one engine serves both.

How a pipeline runs
-------------------
* Every step is its own process in its own process group, whose id is its pid
  (see :func:`_isolation`). runspec signals whole groups, so a grandchild a step
  started dies with it.
* Step ``i`` writes into an OS pipe that step ``i + 1`` reads. runspec closes its
  own copies of both ends as soon as the children hold theirs: the data never
  passes through runspec, and end-of-file and SIGPIPE travel between the steps
  exactly as in a shell pipeline.
* stderr is inherited, or with ``prefix_stderr`` read by runspec and written to
  its own stderr in whole lines as ``[name] line`` (see :class:`_LinePrefixer`).

Which step failed
-----------------
Statuses are judged in the order runspec observes the exits; exits seen in the
same wake-up are taken in step order.

1. Status 0 is a success.
2. A *pipe death* is no failure: a step that is not the last one, killed by
   SIGPIPE or exiting 141 (how a shell reports a SIGPIPE death), after its reader
   has gone, i.e. the next step has exited or no longer holds the pipe as its
   stdin (read from ``/proc`` on Linux; where there is no ``/proc`` the reader is
   assumed gone). This is what ``producer | head -c 1`` does to the producer, and
   the early exit of ``head`` is what the pipeline asked for. A SIGPIPE death
   while the next step still reads its stdin came from elsewhere (a socket, an
   inner pipe) and is a failure. (A Python step ignores SIGPIPE and exits 1 or
   120 on BrokenPipeError instead, which counts as a failure: such a step should
   restore ``signal.SIGPIPE`` to ``SIG_DFL`` or exit 141 when its reader is gone.)
3. Any other status is a failure. The first failure is the *cause*: runspec sends
   SIGTERM to every step's process group, waits ``grace`` seconds, then sends
   SIGKILL. Statuses seen after that are consequences and never the cause.

SIGINT, SIGTERM and SIGHUP received by runspec while steps run are forwarded to
every step's process group, followed by the same grace period and SIGKILL; a
second one skips the rest of the grace period. The exit code is then 128 + the
signal (130 for SIGINT, 143 for SIGTERM), unless a step had already failed.
Signals that were ignored when the run began stay ignored.

When every step has exited, processes still left in a step's process group (a
background job the step did not wait for) are stopped the same way, so nothing
outlives the run. Zombies, which only wait for their parent to reap them, count
as gone.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import PipelineError

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
    from types import FrameType
    from typing import IO, Any

    _Stream = int | IO[Any] | None

__all__ = ["PipelineResult", "Step", "StepResult", "render_shell", "run_pipeline"]

_LINE_CAP = 64 * 1024  # longest stderr line kept whole; longer ones are cut
_READ_SIZE = 64 * 1024
_POLL = 0.05  # seconds between checks when no file descriptor announces an exit
_KILL_WAIT = 2.0  # how long SIGKILLed processes may take to disappear
_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP")
_SIGPIPE = 13  # these two numbers are the same on Linux and the BSDs
_SIGKILL = 9
_PIPE_DEATHS = (-_SIGPIPE, 128 + _SIGPIPE)


@dataclass(frozen=True)
class Step:
    """One process of a pipeline: name, argv, full environment (None inherits), cwd."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    cwd: str | None = None

    @classmethod
    def create(
        cls,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Step:
        """Build a step from any sequence and mapping, copied so it cannot change."""
        from types import MappingProxyType

        frozen_env = None if env is None else MappingProxyType(dict(env))
        return cls(
            name, tuple(argv), frozen_env, None if cwd is None else os.fspath(cwd)
        )


@dataclass(frozen=True)
class StepResult:
    """How one step ended: ``returncode`` is negative (-N) when signal N killed it."""

    name: str
    returncode: int
    pid: int


@dataclass(frozen=True)
class PipelineResult:
    """How a pipeline ended.

    ``failed`` is the step whose failure caused the end (None on success or when
    runspec was interrupted first); ``exit_code`` is 0, that step's exit code
    (128 + N for signal N), or 128 + the signal runspec received;
    ``interrupted`` is the first signal runspec received while running, if any.
    """

    steps: tuple[StepResult, ...]
    failed: StepResult | None
    exit_code: int
    interrupted: int | None

    def describe(self) -> str:
        """Return one line, e.g. ``step 2 (tokenize) failed with exit code 3``."""
        if self.failed is not None:
            label = _label(self.steps.index(self.failed), self.failed.name)
            code = self.failed.returncode
            if code < 0:
                return f"{label} was killed by {_signal_name(-code)}"
            return f"{label} failed with exit code {code}"
        if self.interrupted is not None:
            return f"interrupted by {_signal_name(self.interrupted)}"
        count = len(self.steps)
        return f"{count} step{'' if count == 1 else 's'} succeeded"


def render_shell(
    steps: Sequence[Step], environ: Mapping[str, str] | None = None
) -> str:
    """Return the equivalent shell pipeline, every word quoted.

    Environment entries that differ from ``environ`` (default ``os.environ``)
    become an ``env -u K K=V`` prefix; a working directory becomes ``(cd DIR && ...)``.
    """
    base = os.environ if environ is None else environ
    return " | ".join(_render_step(step, base) for step in steps)


def _render_step(step: Step, base: Mapping[str, str]) -> str:
    import shlex

    words = [shlex.quote(arg) for arg in step.argv]
    if step.env is not None:
        env = step.env
        removed = [f"-u {shlex.quote(key)}" for key in sorted(base) if key not in env]
        changed = [
            shlex.quote(f"{k}={env[k]}") for k in sorted(env) if base.get(k) != env[k]
        ]
        if removed or changed:
            words = ["env", *removed, *changed, *words]
    command = " ".join(words)
    if step.cwd is not None:
        command = f"(cd {shlex.quote(step.cwd)} && {command})"
    return command


def run_pipeline(
    steps: Sequence[Step],
    *,
    prefix_stderr: bool = False,
    grace: float = 5.0,
    stdin: _Stream = None,
    stdout: _Stream = None,
) -> PipelineResult:
    """Run ``steps`` joined by OS pipes and wait for all of them (see the module doc).

    The first step reads ``stdin`` (default: runspec's), the last writes to
    ``stdout`` (default: runspec's); both may be file descriptors or files.
    Raises :class:`PipelineError` when a step cannot be started, after stopping
    the steps already started.
    """
    _check(steps)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # what runspec printed comes before what the steps print
    engine = _Engine(grace)
    try:
        with _forwarding(engine.notify):
            engine.start(steps, stdin, stdout, prefix_stderr)
            return engine.run()
    finally:
        engine.close()


def _check(steps: Sequence[Step]) -> None:
    if not steps:
        raise PipelineError("no steps to run")
    for index, step in enumerate(steps):
        if not step.argv:
            raise PipelineError("empty command", key=_label(index, step.name))


def _label(index: int, name: str) -> str:
    return f"step {index + 1} ({name})"


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


@contextmanager
def _forwarding(notify: Callable[[int], None]) -> Iterator[None]:
    """Pass SIGINT, SIGTERM and SIGHUP to ``notify`` while active; restore afterwards.

    Outside the main thread Python cannot catch signals, so nothing is forwarded there.
    """
    import signal

    def handler(signum: int, frame: FrameType | None) -> None:
        notify(signum)

    previous: dict[int, Any] = {}
    try:
        for name in _FORWARDED:
            number = getattr(signal, name)
            old = signal.getsignal(number)
            if old == signal.SIG_IGN:
                continue  # e.g. under nohup: the caller wants it ignored, steps too
            try:
                signal.signal(number, handler)
            except ValueError:
                break
            previous[number] = signal.SIG_DFL if old is None else old
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


class _LinePrefixer:
    """Cuts one step's stderr bytes into whole lines, each starting with ``[name] ``.

    A line longer than ``_LINE_CAP`` bytes is cut into pieces of that size, each
    written as a line of its own, so memory stays bounded whatever a step writes;
    an unterminated last line gets its newline at end of file.
    """

    def __init__(self, name: str) -> None:
        self._prefix = f"[{name}] ".encode(errors="backslashreplace")
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        """Take the next bytes read; return the complete prefixed lines they finish."""
        buffer = self._pending + data
        out = bytearray()
        start = 0
        while True:
            end = buffer.find(b"\n", start, start + _LINE_CAP + 1)
            if end != -1:
                out += self._prefix + buffer[start : end + 1]
                start = end + 1
            elif len(buffer) - start > _LINE_CAP:
                out += self._prefix + buffer[start : start + _LINE_CAP] + b"\n"
                start += _LINE_CAP
            else:
                break
        self._pending = buffer[start:]
        return bytes(out)

    def finish(self) -> bytes:
        """Return the unterminated last line, prefixed and terminated (or nothing)."""
        rest, self._pending = self._pending, b""
        return self._prefix + rest + b"\n" if rest else b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:
            return  # runspec's stderr is gone; the steps must not block on it


def _spawn(
    index: int, step: Step, stdin: _Stream, stdout: _Stream, stderr: int | None
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
            **_isolation(stdin),
        )
    except (OSError, ValueError) as exc:
        raise PipelineError(
            _spawn_message(step, exc), key=_label(index, step.name)
        ) from exc


def _isolation(stdin: _Stream) -> dict[str, Any]:
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


def _is_terminal(stream: _Stream) -> bool:
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


def _holds_stdin(pid: int, link: str | None) -> bool:
    """Tell whether ``pid`` still has the pipe ``link`` as stdin (False if unknown)."""
    if link is None:
        return False
    try:
        return os.readlink(f"/proc/{pid}/fd/0") == link
    except OSError:
        return False


def _live_groups(pgids: Collection[int]) -> set[int]:
    """Return the process groups among ``pgids`` with a member that is not a zombie."""
    wanted = set(pgids)
    if not wanted:
        return set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {pgid for pgid in wanted if _group_exists(pgid)}
    live = set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rfind(b")") + 2 :].split(maxsplit=3)[:3]
        if state not in (b"Z", b"X") and int(pgrp) in wanted:
            live.add(int(pgrp))
    return live


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@dataclass
class _Child:
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


class _Engine:
    """Starts the steps, watches exits, stderr and runspec's signals, stops the steps.

    One instance runs one pipeline. Everything happens in the calling thread
    around one selector: pidfds (Linux) wake it when a step exits, a self-pipe
    when a signal arrives, and the stderr pipes when prefixing.
    """

    def __init__(self, grace: float) -> None:
        import selectors

        self._grace = grace
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = os.pipe()
        for fd in (self._wake_read, self._wake_write):
            os.set_blocking(fd, False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, self._on_wake)
        self._signals: list[int] = []
        self._children: list[_Child] = []
        self._taps: dict[int, _LinePrefixer] = {}
        self._polling = False  # some exit cannot wake the selector: check every _POLL
        self._cause: _Child | None = None
        self._interrupted: int | None = None
        self._stopping = False
        self._kill_at: float | None = None
        self._give_up_at: float | None = None

    def notify(self, signum: int) -> None:
        """Record a signal runspec received (called from the signal handler)."""
        self._signals.append(signum)
        try:
            os.write(self._wake_write, b"\0")
        except OSError:
            pass  # the pipe is full, so the selector wakes anyway

    def start(
        self, steps: Sequence[Step], stdin: _Stream, stdout: _Stream, prefix: bool
    ) -> None:
        """Start the steps, joined by pipes; on failure stop those started, re-raise."""
        import signal

        pipes = [os.pipe() for _ in steps[1:]]
        unclaimed = {fd for pair in pipes for fd in pair}
        try:
            for index, step in enumerate(steps):
                reader = stdin if index == 0 else pipes[index - 1][0]
                writer = stdout if index == len(steps) - 1 else pipes[index][1]
                link = None if index == 0 else _pipe_link(pipes[index - 1][0])
                self._start_step(index, step, reader, writer, link, prefix)
                # Our copies would keep EOF and SIGPIPE from reaching the steps.
                for fd in (reader, writer):
                    if isinstance(fd, int) and fd in unclaimed:
                        unclaimed.discard(fd)
                        os.close(fd)
        except BaseException:
            for fd in unclaimed:
                os.close(fd)
            self._stop(signal.SIGTERM)
            self.run()
            raise

    def _start_step(
        self,
        index: int,
        step: Step,
        reader: _Stream,
        writer: _Stream,
        link: str | None,
        prefix: bool,
    ) -> None:
        import selectors

        stderr = None
        if prefix:
            tap, stderr = os.pipe()
            os.set_blocking(tap, False)
            self._taps[tap] = _LinePrefixer(step.name)
            self._selector.register(tap, selectors.EVENT_READ, self._on_tap)
        try:
            proc = _spawn(index, step, reader, writer, stderr)
        finally:
            if stderr is not None:
                os.close(stderr)
        child = _Child(index, step.name, proc, link, _open_pidfd(proc.pid))
        self._children.append(child)
        if child.pidfd is None:
            self._polling = True
        else:
            self._selector.register(child.pidfd, selectors.EVENT_READ, None)

    def run(self) -> PipelineResult:
        """Wait until every step has exited and its process group is empty."""
        while not self._settled():
            for key, _events in self._selector.select(self._timeout()):
                if key.data is not None:
                    key.data(key.fd)
            self._reap()
            if self._kill_at is not None and time.monotonic() >= self._kill_at:
                self._kill()
        for tap in list(self._taps):
            self._drain(tap)
        return self._result()

    def close(self) -> None:
        """Release every descriptor; SIGKILL and reap steps still running (a crash)."""
        if any(child.returncode is None for child in self._children):
            self._signal_groups(_SIGKILL)
            for child in self._children:
                child.proc.wait()
        for child in self._children:
            if child.pidfd is not None:
                os.close(child.pidfd)
                child.pidfd = None
        for tap in list(self._taps):
            self._close_tap(tap)
        self._selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _settled(self) -> bool:
        if any(child.returncode is None for child in self._children):
            return False
        if not _live_groups([child.pid for child in self._children]):
            return True
        if not self._stopping:
            import signal

            self._stop(signal.SIGTERM)  # leftovers of steps that have all exited
        return self._give_up_at is not None and time.monotonic() >= self._give_up_at

    def _timeout(self) -> float | None:
        waits = []
        deadline = self._kill_at if self._kill_at is not None else self._give_up_at
        if deadline is not None:
            waits.append(max(0.0, deadline - time.monotonic()))
        if self._polling or all(
            child.returncode is not None for child in self._children
        ):
            waits.append(_POLL)
        return min(waits) if waits else None

    def _reap(self) -> None:
        exited = [
            c
            for c in self._children
            if c.returncode is None and c.proc.poll() is not None
        ]
        for child in exited:
            child.returncode = child.proc.returncode
            if child.pidfd is not None:
                self._selector.unregister(child.pidfd)
                os.close(child.pidfd)
                child.pidfd = None
        for (
            child
        ) in exited:  # judged once all are marked: a reader that exited too is gone
            self._judge(child)

    def _judge(self, child: _Child) -> None:
        """Make ``child`` the cause if it is the first genuine failure (see module)."""
        if child.returncode == 0 or self._stopping or self._pipe_death(child):
            return
        import signal

        self._cause = child
        self._stop(signal.SIGTERM)

    def _pipe_death(self, child: _Child) -> bool:
        if child.returncode not in _PIPE_DEATHS or child.index + 1 >= len(
            self._children
        ):
            return False
        reader = self._children[child.index + 1]
        return reader.returncode is not None or not _holds_stdin(
            reader.pid, reader.stdin_link
        )

    def _on_wake(self, fd: int) -> None:
        with suppress(BlockingIOError):
            os.read(fd, 512)
        while self._signals:
            signum = self._signals.pop(0)
            if self._interrupted is None:
                self._interrupted = signum
            if self._stopping:
                self._kill()  # a second signal, or one in a grace period: no waiting
            else:
                self._stop(signum)

    def _on_tap(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        if data:
            _write_all(2, self._taps[fd].feed(data))
        else:
            self._close_tap(fd)

    def _drain(self, fd: int) -> None:
        while fd in self._taps:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                break  # held open by a process outside the steps' groups: stop here
            if not data:
                break
            _write_all(2, self._taps[fd].feed(data))
        self._close_tap(fd)

    def _close_tap(self, fd: int) -> None:
        prefixer = self._taps.pop(fd, None)
        if prefixer is None:
            return
        _write_all(2, prefixer.finish())
        self._selector.unregister(fd)
        os.close(fd)

    def _stop(self, signum: int) -> None:
        self._stopping = True
        self._kill_at = time.monotonic() + self._grace
        self._signal_groups(signum)

    def _kill(self) -> None:
        self._kill_at = None
        self._give_up_at = time.monotonic() + _KILL_WAIT
        self._signal_groups(_SIGKILL)

    def _signal_groups(self, signum: int) -> None:
        running = [c.pid for c in self._children if c.returncode is None]
        exited = [c.pid for c in self._children if c.returncode is not None]
        for pgid in (*running, *_live_groups(exited)):
            try:
                os.killpg(pgid, signum)
            except OSError:
                pass  # the group has just emptied

    def _result(self) -> PipelineResult:
        steps = tuple(
            StepResult(
                c.name,
                c.proc.returncode if c.returncode is None else c.returncode,
                c.pid,
            )
            for c in self._children
        )
        failed = None if self._cause is None else steps[self._cause.index]
        if failed is not None:
            exit_code = _exit_code(failed.returncode)
        elif self._interrupted is not None:
            exit_code = 128 + self._interrupted
        else:
            exit_code = 0
        return PipelineResult(steps, failed, exit_code, self._interrupted)
