"""The engine that runs one pipeline: start the steps, wait on one selector, stop them.

Everything happens in the calling thread around one selector: pidfds (Linux) wake
it when a step exits, a self-pipe when runspec receives a signal, and the pipes of
the streams runspec copies (prefixed stderr, logs). The parts it drives:
:mod:`.spawn` starts the steps, :mod:`.exits` reaps and judges their exits,
:mod:`.groups` stops their process groups, :mod:`.reaper` finds what left those groups,
:mod:`.signals` catches runspec's signals, :mod:`.taps` copies the streams runspec
prefixes or logs.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from ...errors import PipelineError
from .exits import Exits
from .groups import Stopper, live_groups
from .reaper import Reaper
from .signals import SignalInbox, forwarding
from .spawn import start_child, start_joined
from .steps import PipelineResult, Step, step_label
from .taps import LOG_NAMES, Taps

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .spawn import Stream

__all__ = ["run_pipeline"]

_POLL = 0.05  # seconds between checks when no file descriptor announces an exit


def run_pipeline(
    steps: Sequence[Step],
    *,
    prefix_stderr: bool = False,
    grace: float = 5.0,
    stdin: Stream = None,
    stdout: Stream = None,
    started: Callable[[], None] | None = None,
) -> PipelineResult:
    """Run ``steps`` joined by OS pipes and wait for all of them (see the package doc).

    The first step reads ``stdin`` (default: runspec's), the last writes to
    ``stdout`` (default: runspec's); both may be file descriptors or files.
    ``started`` is called once every step has started (bookkeeping that need not
    delay them); if it raises, the steps are stopped as when one cannot start.
    Raises :class:`PipelineError` when a step cannot be started, after stopping
    the steps already started.
    """
    _check(steps)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # what runspec printed comes before what the steps print
    try:
        engine = _Engine(grace)
    except OSError as exc:  # no descriptor left for the selector or the self-pipe
        raise PipelineError(f"cannot start the steps: {exc.strerror or exc}") from None
    try:
        with forwarding(engine.notify):
            try:
                engine.start(steps, stdin, stdout, prefix_stderr, started)
            except OSError as exc:  # the pipes between steps (EMFILE, ENFILE)
                raise PipelineError(f"cannot start the steps: {exc.strerror or exc}") from None
            return engine.run()
    finally:
        engine.close()


def _check(steps: Sequence[Step]) -> None:
    if not steps:
        raise PipelineError("no steps to run")
    for index, step in enumerate(steps):
        if not step.argv:
            raise PipelineError("empty command", key=step_label(index, step.name))


class _Engine:
    """Runs one pipeline: starts the steps, then loops until every group is empty."""

    def __init__(self, grace: float) -> None:
        import selectors

        self._selector = selectors.DefaultSelector()
        self._inbox = SignalInbox(self._selector, self._on_signal)
        self._taps = Taps(self._selector)
        self._exits = Exits(self._selector)
        self._reaper = Reaper()
        self._stopper = Stopper(self._exits.children, grace, self._escaped)
        self._interrupted: int | None = None

    def notify(self, signum: int) -> None:
        """Record a signal runspec received (called from the signal handler)."""
        self._inbox.notify(signum)

    def start(
        self, steps: Sequence[Step], stdin: Stream, stdout: Stream, prefix: bool,
        started: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        """Start the steps, joined by pipes, then call ``started``; on failure stop them."""
        last = len(steps) - 1

        def start_one(
            index: int, step: Step, reader: Stream, writer: Stream, link: str | None
        ) -> None:
            ours: list[int] = []  # pipe ends made here, closed once the step holds them
            try:
                stderr = self._tap_stderr(step, prefix)
                if stderr is not None:
                    ours.append(stderr)
                if index == last and step.log_dir is not None:
                    destination = _fd(writer, 1)
                    writer = self._taps.add(destination, log=_log(step, 0), stdout=True)
                    ours.append(writer)
                    step = _unbuffered_on_terminal(step, destination)
                child = start_child(index, step, reader, writer, stderr, link)
            finally:
                for fd in ours:
                    os.close(fd)
            self._exits.add(child)

        try:
            start_joined(steps, stdin, stdout, start_one)
            if started is not None:
                started()
        except BaseException:
            import signal

            self._stopper.stop(signal.SIGTERM)
            self.run()
            raise

    def _tap_stderr(self, step: Step, prefix: bool) -> int | None:
        """The stderr a step gets: runspec's, or a tap that prefixes or logs it."""
        if not prefix and step.log_dir is None:
            return None
        name = step.name if prefix else None
        return self._taps.add(2, log=_log(step, 1), prefix=name)

    def run(self) -> PipelineResult:
        """Wait until every step has exited and its process group is empty."""
        while not self._settled():
            for key, _events in self._selector.select(self._timeout()):
                if key.data is not None:
                    key.data(key.fd)
            if self._exits.reap(self._stopper.stopping) is not None:
                import signal

                self._stopper.stop(signal.SIGTERM)
            if self._stopper.kill_due():
                self._stopper.kill()
        self._taps.drain()
        return self._exits.result(self._interrupted)

    def close(self) -> None:
        """Release every descriptor; SIGKILL and reap steps still running (a crash)."""
        if self._exits.running():
            self._stopper.kill()
            for child in self._exits.children:
                child.proc.wait()
        self._exits.close()
        self._taps.close()
        self._selector.close()
        self._inbox.close()
        self._reaper.close()

    def _escaped(self) -> set[int]:
        """Live descendants of the steps outside their process groups."""
        return self._reaper.descendants({child.pid for child in self._exits.children})

    def _settled(self) -> bool:
        if self._exits.running():
            return False
        groups = [child.pid for child in self._exits.children]
        if not live_groups(groups) and not self._escaped():
            return True
        if not self._stopper.stopping:
            import signal

            self._stopper.stop(signal.SIGTERM)  # leftovers of steps that have all exited
        return self._stopper.gave_up()

    def _timeout(self) -> float | None:
        waits = []
        deadline = self._stopper.deadline()
        if deadline is not None:
            waits.append(max(0.0, deadline - time.monotonic()))
        if self._exits.polling or not self._exits.running():
            waits.append(_POLL)
        return min(waits) if waits else None

    def _on_signal(self, signum: int) -> None:
        if self._interrupted is None:
            self._interrupted = signum
        if self._stopper.stopping:
            self._stopper.kill()  # a second signal, or one in a grace period: no waiting
        else:
            self._stopper.stop(signum)


def _fd(stream: Stream, default: int) -> int:
    if stream is None:
        return default
    return stream if isinstance(stream, int) else stream.fileno()


def _log(step: Step, which: int) -> str | None:
    return None if step.log_dir is None else os.path.join(step.log_dir, LOG_NAMES[which])


def _unbuffered_on_terminal(step: Step, destination: int) -> Step:
    """A step whose stdout is tapped writes into a pipe, where Python buffers stdout in
    blocks; when the stream ends on a terminal, ``PYTHONUNBUFFERED=1`` keeps its output
    as prompt as it would be there (unless the step's environment sets it)."""
    if not _is_terminal(destination):
        return step
    env = dict(os.environ if step.env is None else step.env)
    if "PYTHONUNBUFFERED" in env:
        return step
    env["PYTHONUNBUFFERED"] = "1"
    return Step.create(step.name, step.argv, env, step.cwd, log_dir=step.log_dir)


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
