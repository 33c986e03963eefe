"""The steps' stderr with ``--prefix``: read by runspec, written on in whole lines as
``[name] line``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import selectors

__all__ = ["LinePrefixer", "StderrTaps"]

_LINE_CAP = 64 * 1024  # longest stderr line kept whole; longer ones are cut
_READ_SIZE = 64 * 1024


class LinePrefixer:
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


class StderrTaps:
    """The read ends of the steps' stderr pipes, each with its prefixer.

    Each end is registered with the engine's selector; when it is readable the
    selector calls back here, and what is read goes to runspec's stderr (fd 2).
    """

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector
        self._taps: dict[int, LinePrefixer] = {}

    def add(self, name: str) -> int:
        """Open a pipe for step ``name``'s stderr; return the end the step writes to.

        The caller closes that end once the step holds it.
        """
        import selectors

        tap, stderr = os.pipe()
        os.set_blocking(tap, False)
        self._taps[tap] = LinePrefixer(name)
        self._selector.register(tap, selectors.EVENT_READ, self._on_readable)
        return stderr

    def drain(self) -> None:
        """Copy what is left in every pipe, then close them."""
        for tap in list(self._taps):
            self._drain(tap)

    def close(self) -> None:
        """Close every pipe, writing out any unterminated last line."""
        for tap in list(self._taps):
            self._close(tap)

    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        if data:
            _write_all(2, self._taps[fd].feed(data))
        else:
            self._close(fd)

    def _drain(self, fd: int) -> None:
        while fd in self._taps:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                break  # held open by a process outside the steps' groups: stop here
            if not data:
                break
            _write_all(2, self._taps[fd].feed(data))
        self._close(fd)

    def _close(self, fd: int) -> None:
        prefixer = self._taps.pop(fd, None)
        if prefixer is None:
            return
        _write_all(2, prefixer.finish())
        self._selector.unregister(fd)
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:
            return  # runspec's stderr is gone; the steps must not block on it
