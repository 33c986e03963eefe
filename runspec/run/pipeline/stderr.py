"""The steps' stderr with ``--prefix``: cut into whole lines written as ``[name] line``
(the copying itself is :mod:`.taps`)."""

from __future__ import annotations

__all__ = ["LinePrefixer"]

_LINE_CAP = 64 * 1024  # longest stderr line kept whole; longer ones are cut


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
