"""Waiting for the steps and judging their exits: which failure, if any, is the cause.

The rules are in the package docstring (:mod:`runspec.run.pipeline`): status 0 is a
success, a pipe death is no failure, the first other status is the cause.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .steps import PipelineResult, StepResult

if TYPE_CHECKING:
    import selectors

    from .spawn import Child

__all__ = ["Exits"]

_SIGPIPE = 13  # the same number on Linux and the BSDs
_PIPE_DEATHS = (-_SIGPIPE, 128 + _SIGPIPE)


class Exits:
    """The started steps, their exits as runspec observes them, and the cause.

    A step whose pidfd (Linux) is registered wakes the selector when it exits;
    without one, ``polling`` tells the engine to check every so often.
    """

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector
        self.children: list[Child] = []
        self.polling = False
        self.cause: Child | None = None

    def add(self, child: Child) -> None:
        """Watch a started step."""
        import selectors

        self.children.append(child)
        if child.pidfd is None:
            self.polling = True
        else:
            self._selector.register(child.pidfd, selectors.EVENT_READ, None)

    def running(self) -> bool:
        """Whether some step has not exited yet."""
        return any(child.returncode is None for child in self.children)

    def reap(self, stopping: bool) -> Child | None:
        """Note the steps that have exited; return the one that became the cause.

        Nothing becomes the cause once the steps are being stopped: statuses seen
        after that are consequences.
        """
        exited = [c for c in self.children if c.returncode is None and c.proc.poll() is not None]
        for child in exited:
            child.returncode = child.proc.returncode
            self._forget_pidfd(child)
        # judged once all are marked: a reader that exited too is gone
        for child in exited:
            if not stopping and self.cause is None and self._fails(child):
                self.cause = child
                return child
        return None

    def result(self, interrupted: int | None) -> PipelineResult:
        """How the pipeline ended, given the first signal runspec received (if any)."""
        steps = tuple(
            StepResult(c.name, c.proc.returncode if c.returncode is None else c.returncode, c.pid)
            for c in self.children
        )
        failed = None if self.cause is None else steps[self.cause.index]
        if failed is not None:
            exit_code = _exit_code(failed.returncode)
        elif interrupted is not None:
            exit_code = 128 + interrupted
        else:
            exit_code = 0
        return PipelineResult(steps, failed, exit_code, interrupted)

    def close(self) -> None:
        """Close the pidfds still open (the selector is closed after this)."""
        for child in self.children:
            if child.pidfd is not None:
                os.close(child.pidfd)
                child.pidfd = None

    def _forget_pidfd(self, child: Child) -> None:
        if child.pidfd is not None:
            self._selector.unregister(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = None

    def _fails(self, child: Child) -> bool:
        return child.returncode != 0 and not self._pipe_death(child)

    def _pipe_death(self, child: Child) -> bool:
        if child.returncode not in _PIPE_DEATHS or child.index + 1 >= len(self.children):
            return False
        reader = self.children[child.index + 1]
        return reader.returncode is not None or not _holds_stdin(reader.pid, reader.stdin_link)


def _holds_stdin(pid: int, link: str | None) -> bool:
    """Tell whether ``pid`` still has the pipe ``link`` as stdin (False if unknown)."""
    if link is None:
        return False
    try:
        return os.readlink(f"/proc/{pid}/fd/0") == link
    except OSError:
        return False


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode
