"""Where nemo-run's output goes while it runs a job: the job's output to stdout, nemo-run's
own talk (its console, its notes on a pending Slurm job) to stderr.

stdout belongs to the recipe (and to the handle ``runspec submit`` prints): a script that
reads it must not find nemo-run's progress there.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["nemo_run_console", "progress_to_stderr"]

# nemo-run's Slurm scheduler names the thread that prints a pending job's estimated start
# time after the job id; it prints with print(), to whatever sys.stdout is at the time.
_PROGRESS_THREAD = "slurm-start-time-"


@contextlib.contextmanager
def nemo_run_console(*, quiet: bool = False) -> Iterator[None]:
    """Send nemo-run's console to stderr (or nowhere) while it works."""
    from nemo_run.core.frontend.console.api import CONSOLE

    saved = CONSOLE.file, CONSOLE.quiet
    CONSOLE.file, CONSOLE.quiet = sys.stderr, quiet
    try:
        yield
    finally:
        CONSOLE.file, CONSOLE.quiet = saved


class _Router:
    """A stand-in for sys.stdout that sends what nemo-run's progress threads print to stderr
    and everything else (the job's output, tailed by nemo-run) to the real stdout."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out, self._err = out, err

    def _target(self) -> TextIO:
        progress = threading.current_thread().name.startswith(_PROGRESS_THREAD)
        return self._err if progress else self._out

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


@contextlib.contextmanager
def progress_to_stderr() -> Iterator[None]:
    """Route nemo-run's progress lines to stderr while it launches and waits for a job."""
    saved = sys.stdout
    sys.stdout = _Router(saved, sys.stderr)
    try:
        yield
    finally:
        sys.stdout = saved
