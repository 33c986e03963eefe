"""Streams runspec copies on their way out: a step's stderr, and the last step's stdout.

A tap is the read end of a pipe a step writes to. What arrives goes to where the
stream would have gone without runspec (its *destination*: runspec's stdout or stderr,
or a file given to the engine) and, when asked, to a log file in the job folder, both
as soon as it is read. With ``--prefix`` the copy on stderr is cut into whole lines
``[name] line``; the log keeps the step's own bytes.

A logged stream never passes through runspec's memory where the OS allows it (Linux):
``splice`` moves what the pipe holds into the log file, and ``sendfile`` copies it from
there to the destination, both inside the kernel. Elsewhere, and for prefixed lines,
runspec reads and writes.

When the destination of a stdout tap goes away (a reader such as ``head`` exits), the
tap closes its pipe, so the step sees a closed pipe exactly as it would without runspec
in between. A stderr tap whose destination is gone keeps writing its log.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .stderr import LinePrefixer

if TYPE_CHECKING:
    import selectors

__all__ = ["LOG_NAMES", "Taps"]

LOG_NAMES = ("stdout.log", "stderr.log")
"""The files of a step's ``log_dir`` that its stdout and stderr are copied to."""

_CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20  # the kernel's default pipe-max-size: fewer, larger moves
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV)
_MOVED, _EMPTY, _ENDED = "moved", "empty", "ended"


@dataclass
class _Tap:
    """One tapped stream (internal, mutable)."""

    destination: int | None
    log: int | None
    log_path: str | None
    prefixer: LinePrefixer | None
    closes_on_broken_destination: bool
    in_kernel: bool
    """Whether to move data with splice and sendfile (until the OS refuses)."""
    logged: int = 0
    """Bytes in the log so far: where the next sendfile reads from."""


class Taps:
    """The tapped streams of one pipeline, read when the engine's selector says so."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector
        self._taps: dict[int, _Tap] = {}

    def add(
        self,
        destination: int,
        *,
        log: str | None = None,
        prefix: str | None = None,
        stdout: bool = False,
    ) -> int:
        """Open a pipe copied to ``destination`` (and to the file ``log``); return the end
        the step writes to, which the caller closes once the step holds it.

        ``prefix`` names the step for ``[name] line`` prefixes on the destination; a
        ``stdout`` tap closes its pipe when its destination goes away. The log file is
        created private to the user (0600): a job's output may hold secrets.
        """
        import selectors

        log_fd = _open_log(log) if log is not None else None
        tap, writer = os.pipe()
        if stdout:
            _widen(tap)
        os.set_blocking(tap, False)
        prefixer = LinePrefixer(prefix) if prefix is not None else None
        in_kernel = log_fd is not None and prefixer is None and hasattr(os, "splice")
        self._taps[tap] = _Tap(destination, log_fd, log, prefixer, stdout, in_kernel)
        self._selector.register(tap, selectors.EVENT_READ, self._on_readable)
        return writer

    def drain(self) -> None:
        """Copy what is left in every pipe, then close them."""
        for fd in list(self._taps):
            # stops at an empty pipe held open by a process outside the steps' groups
            while fd in self._taps and self._pump(fd) == _MOVED:
                pass
            self._close(fd)

    def close(self) -> None:
        """Close every pipe and log, writing out any unterminated last line."""
        for fd in list(self._taps):
            self._close(fd)

    def _on_readable(self, fd: int) -> None:
        if self._pump(fd) == _ENDED:
            self._close(fd)

    def _pump(self, fd: int) -> str:
        """Move what the pipe holds on; say whether it moved data, was empty or ended."""
        tap = self._taps[fd]
        if tap.in_kernel:
            moved = self._splice(fd, tap)
            if moved is not None:
                return moved
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return _EMPTY
        if not data:
            return _ENDED
        self._copy(fd, tap, data)
        return _MOVED

    def _splice(self, fd: int, tap: _Tap) -> str | None:
        """Move the pipe's data into the log, then from the log to the destination, in
        the kernel; None when the OS cannot (the caller reads and writes instead)."""
        assert tap.log is not None
        try:
            count = os.splice(fd, tap.log, _CHUNK, flags=os.SPLICE_F_NONBLOCK)
        except BlockingIOError:
            return _EMPTY
        except OSError as exc:
            tap.in_kernel = False
            if exc.errno not in _UNSUPPORTED:
                self._lose_log(tap)  # a full disk, say: the data is still in the pipe
            return None
        if not count:
            return _ENDED
        start, tap.logged = tap.logged, tap.logged + count
        if tap.destination is not None and not self._send(tap, start, count):
            self._lose_destination(fd, tap)
        return _MOVED

    def _send(self, tap: _Tap, start: int, count: int) -> bool:
        """Copy bytes ``start`` to ``start + count`` of the log to the destination."""
        assert tap.log is not None and tap.destination is not None
        while count:
            try:
                sent = os.sendfile(tap.destination, tap.log, start, count)
            except BlockingIOError:
                _wait_writable(tap.destination)
                continue
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    return False
                tap.in_kernel = False
                return _write_all(tap.destination, os.pread(tap.log, count, start))
            if not sent:  # the log lost those bytes (cut short by someone): read from now on
                tap.in_kernel = False
                return True
            start, count = start + sent, count - sent
        return True

    def _copy(self, fd: int, tap: _Tap, data: bytes) -> None:
        if tap.log is not None and not _write_all(tap.log, data):
            self._lose_log(tap)
        if tap.destination is None:
            return
        shown = tap.prefixer.feed(data) if tap.prefixer is not None else data
        if not _write_all(tap.destination, shown):
            self._lose_destination(fd, tap)

    def _lose_log(self, tap: _Tap) -> None:
        _warn(f"cannot write {tap.log_path}; the job goes on without that log")
        assert tap.log is not None
        os.close(tap.log)
        tap.log, tap.in_kernel = None, False

    def _lose_destination(self, fd: int, tap: _Tap) -> None:
        tap.destination = None
        if tap.closes_on_broken_destination:
            self._close(fd)  # the step now sees a closed pipe, as without runspec

    def _close(self, fd: int) -> None:
        tap = self._taps.pop(fd, None)
        if tap is None:
            return
        if tap.prefixer is not None and tap.destination is not None:
            _write_all(tap.destination, tap.prefixer.finish())
        if tap.log is not None:
            os.close(tap.log)
        self._selector.unregister(fd)
        os.close(fd)


def _open_log(path: str) -> int:
    from ...errors import PipelineError

    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise PipelineError(f"cannot write the log: {exc.strerror}", path=path) from None


def _widen(fd: int) -> None:
    """Give a pipe a 1 MiB buffer where the OS allows (Linux), for fewer wake-ups."""
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        try:
            fcntl.fcntl(fd, setsize, _PIPE_SIZE)
        except OSError:
            pass  # a lower pipe-max-size or a pipe quota: the default size works too


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of ``data``; False when ``fd`` cannot take it (a closed pipe, a full disk)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            _wait_writable(fd)
        except OSError:
            return False
    return True


def _wait_writable(fd: int) -> None:
    """Wait for a destination someone made non-blocking to take data again."""
    import select

    select.select([], [fd], [])


def _warn(message: str) -> None:
    try:
        os.write(2, f"runspec: warning: {message}\n".encode(errors="backslashreplace"))
    except OSError:
        pass  # runspec's stderr is gone as well
