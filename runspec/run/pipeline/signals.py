"""Signals runspec receives while steps run: caught, queued, and handed to the engine.

The handler only queues the signal and writes a byte to a self-pipe; the engine's
selector wakes on that pipe and the engine acts on the signal in its own loop.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import selectors
    from collections.abc import Callable, Iterator
    from types import FrameType
    from typing import Any

__all__ = ["SignalInbox", "forwarding"]

_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP")


@contextmanager
def forwarding(notify: Callable[[int], None]) -> Iterator[None]:
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


class SignalInbox:
    """Signals received and not yet handled, and the self-pipe that wakes the selector."""

    def __init__(self, selector: selectors.BaseSelector, handle: Callable[[int], None]) -> None:
        import selectors

        self._handle = handle
        self._pending: list[int] = []
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        selector.register(self._read, selectors.EVENT_READ, self._on_wake)

    def notify(self, signum: int) -> None:
        """Record a signal runspec received (called from the signal handler)."""
        self._pending.append(signum)
        try:
            os.write(self._write, b"\0")
        except OSError:
            pass  # the pipe is full, so the selector wakes anyway

    def close(self) -> None:
        """Close the self-pipe (after the selector is closed)."""
        os.close(self._read)
        os.close(self._write)

    def _on_wake(self, fd: int) -> None:
        with suppress(BlockingIOError):
            os.read(fd, 512)
        while self._pending:
            self._handle(self._pending.pop(0))
