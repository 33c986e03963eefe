"""Slurm jobs seen from the terminal: submitted, waited for, their output followed.

``runspec run`` with a Slurm profile submits the job and follows it (attached) or
prints its id (detached); ``runspec pipe`` does the same for a pipeline; ``runspec
logs`` reattaches later. While a job waits, its state, Slurm's reason and the time
since it was submitted are shown on stderr: one line updated in place on a terminal,
a line per change otherwise. The job's output files are copied to stdout and stderr
as they grow, here or over ssh, and the exit code is the job's.

Ctrl-C on an attached run cancels the job (``cancelled job 51``); while only waiting
(``submit --wait``, ``logs -f``) it leaves the job running and says so. A connection
lost while following is tried again once; then the error says how to reattach.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TextIO

from ..errors import SlurmError
from .cluster import (
    TERMINAL_STATES,
    Backoff,
    Submission,
    cancel,
    output_files,
    prepare,
    prepare_pipeline,
    remove_folder,
    require_sbatch,
    send,
    wait,
)
from .ssh import ConnectionLost, SshError
from .transport import LocalTransport, Tap, Transport

if TYPE_CHECKING:
    from ..job import Job

__all__ = [
    "Progress",
    "dry_run_slurm",
    "dry_run_slurm_pipeline",
    "follow",
    "interrupted",
    "run_attached",
    "run_slurm",
    "run_slurm_pipeline",
    "submit_job",
]


def _clock_text(seconds: float) -> str:
    """``0:04``, ``12:30``, ``1:02:03``."""
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class Progress:
    """A job's state on stderr while runspec waits for it.

    On a terminal one line is rewritten in place (its clock ticks every second) until
    output arrives or the job ends; otherwise, and after that, each change of state or
    reason is a line of its own: ``runspec: job 51: PENDING (Priority), 0:04 elapsed``.
    """

    def __init__(
        self,
        job_id: str,
        stream: TextIO | None = None,
        *,
        terminal: bool | None = None,
        since: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.job_id, self.stream, self.clock = job_id, stream or sys.stderr, clock
        self.live = self.stream.isatty() if terminal is None else terminal
        self.since = clock() if since is None else since
        self.shown: tuple[str, str] | None = None
        self.text = ""
        self.drawn = 0.0

    def poll(self, row: Mapping[str, Any]) -> None:
        """Take one answer of Slurm's; show it when the state or reason changed."""
        state = str(row["state"])
        detail = _detail(row)
        if (state, detail) == self.shown:
            return
        self.shown = (state, detail)
        if detail and state != "RUNNING":
            detail = f"({detail})"
        self.text = " ".join(filter(None, [f"job {self.job_id}: {state}", detail]))
        if state not in TERMINAL_STATES:  # the end is told by ended(), after the output
            self._show()

    def tick(self) -> None:
        """On a terminal, redraw the line when its clock moved on."""
        if self.live and self.text and self.clock() - self.drawn >= 1:
            self._show()

    def settle(self) -> None:
        """Stop rewriting a line in place (output follows); later changes get lines."""
        if self.live and self.text:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.live = False

    def _show(self) -> None:
        now = self.clock()
        line = f"runspec: {self.text}, {_clock_text(now - self.since)} elapsed"
        self.drawn = now
        if self.live:
            self.stream.write(f"\r\x1b[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def ended(self, code: int) -> None:
        """Say how the job ended: its last state, and ``job 51 failed with exit code 3``."""
        self.settle()
        if self.text:
            self._show()
        if code:
            self.stream.write(f"runspec: job {self.job_id} failed with exit code {code}\n")
            self.stream.flush()


def _detail(row: Mapping[str, Any]) -> str:
    """Slurm's reason for a waiting job, the nodes of a running one."""
    if row["state"] == "RUNNING" and row.get("nodes") not in (None, "", "(null)"):
        return f"on {row['nodes']}"
    reason = str(row.get("reason") or "")
    return "" if reason in ("None", "(null)") else reason


class _Sink:
    """A binary stream for a job's output; the first write ends the in-place state line."""

    def __init__(self, stream: IO[Any], before: Callable[[], None]) -> None:
        self.stream, self.before = stream, before

    def write(self, data: bytes) -> int:
        self.before()
        buffer: BinaryIO | None = getattr(self.stream, "buffer", None)
        if buffer is not None:
            self.stream.flush()
            buffer.write(data)
            buffer.flush()
        else:
            self.stream.write(data.decode("utf-8", errors="replace"))
            self.stream.flush()
        return len(data)

    def flush(self) -> None:
        self.stream.flush()


class _Guard:
    """Runs the follower's commands; a lost connection is tried again once, then reported."""

    def __init__(self, transport: Transport, job_id: str) -> None:
        self.transport, self.job_id = transport, job_id

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        try:
            return self.transport.run(argv)
        except SshError as error:
            self.reconnect(error)
        try:
            return self.transport.run(argv)
        except SshError as error:
            raise self.lost(error) from None

    def reconnect(self, error: Exception | None) -> None:
        try:
            self.transport.reconnect()
        except SshError as again:
            raise self.lost(again if error is None else error) from None

    def lost(self, error: Exception) -> ConnectionLost:
        host, job = self.transport.host, self.job_id
        return ConnectionLost(
            f"lost the connection to {host} while following job {job} ({error}); the job "
            f"keeps running: reattach with 'runspec logs {job} -f'"
        )


def follow(
    job_id: str,
    files: Sequence[PurePath],
    *,
    transport: Transport | None = None,
    stdout: IO[Any] | None = None,
    stderr: TextIO | None = None,
    poll: Backoff | None = None,
    progress: Progress | None = None,
    offsets: Sequence[int] = (0, 0),
) -> int:
    """Wait for a job while copying its output files (stdout, stderr) as they grow.

    Returns the job's exit code. A lost connection raises
    :class:`~runspec.slurm.ssh.ConnectionLost`; the job keeps running.
    """
    transport = transport or LocalTransport()
    progress = progress or Progress(job_id, stream=stderr)
    streams = (stdout or sys.stdout, stderr or sys.stderr)
    sinks = [_Sink(stream, progress.settle) for stream in streams]
    guard = _Guard(transport, job_id)
    places = zip(files, offsets, sinks, strict=True)
    taps = [transport.tap(path, offset, sink) for path, offset, sink in places]

    def idle(seconds: float) -> None:
        _idle(taps, seconds, progress, guard)

    try:
        code = wait(
            job_id, runner=guard.run, sleep=idle, poll=poll or Backoff(), on_poll=progress.poll,
            host=transport.host,
        )  # fmt: skip
    finally:
        for tap in taps:
            tap.close()
    _copy_rest(guard, files, taps, sinks)
    return code


def _idle(taps: Sequence[Tap], seconds: float, progress: Progress, guard: _Guard) -> None:
    """Copy output while waiting ``seconds`` for the next poll."""
    import select

    end = time.monotonic() + seconds
    while True:
        for tap in taps:
            if not tap.pump():  # its connection went away: follow again on a new one
                guard.reconnect(None)
                tap.restart()
        progress.tick()
        left = end - time.monotonic()
        if left <= 0:
            return
        descriptors = [fd for fd in (tap.fileno() for tap in taps) if fd is not None]
        step = min(left, 0.25 if len(descriptors) < len(taps) else 1.0)
        if descriptors:
            select.select(descriptors, [], [], step)
        else:
            time.sleep(step)


def _copy_rest(guard: _Guard, files: Sequence[PurePath], taps: Sequence[Tap],
               sinks: Sequence[_Sink]) -> None:  # fmt: skip
    """After the job ended: what the taps had not copied yet, read in one go."""
    wanted = [(path, tap.offset) for path, tap in zip(files, taps, strict=True)]
    try:
        rest = guard.transport.read(wanted)
    except SshError as error:
        guard.reconnect(error)
        rest = guard.transport.read(wanted)
    for data, sink in zip(rest, sinks, strict=True):
        if data:
            sink.write(data)


# -- the commands ---------------------------------------------------------------------


def submit_job(sub: Submission, *, argv: Sequence[str], stderr: TextIO | None = None,
               test_only: bool = False) -> str:  # fmt: skip
    """Send a prepared job; say where it went (``submitted batch job 51 (folder)``)."""
    err = stderr or sys.stderr
    for warning in sub.script.warnings:
        print(f"runspec: warning: {warning}", file=err)
    job_id = send(sub, argv=argv, test_only=test_only)
    if not test_only:
        where = sub.transport.location(sub.folder)
        print(f"runspec: submitted batch job {job_id} ({where})", file=err, flush=True)
    return job_id


def interrupted(sub_transport: Transport, job_id: str, *, cancelling: bool,
                stderr: TextIO | None = None) -> int:  # fmt: skip
    """After Ctrl-C: cancel the job (attached runs) or say how to; return 130."""
    err = stderr or sys.stderr
    if not cancelling:
        print(f"runspec: job {job_id} keeps running; cancel it with 'runspec cancel {job_id}'",
              file=err, flush=True)  # fmt: skip
        return 130
    try:
        left = cancel([job_id], runner=sub_transport.run, host=sub_transport.host)
    except SlurmError as error:
        print(f"runspec: error: job {job_id} may still run: {error}", file=err, flush=True)
        return 130
    said = f"job {job_id} was not cancelled: {left[job_id]}" if left else f"cancelled job {job_id}"
    print(f"runspec: {said}", file=err, flush=True)
    return 130


def run_attached(
    sub: Submission,
    *,
    argv: Sequence[str],
    stdout: IO[Any] | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Submit, stream the job's output, return its exit code; Ctrl-C cancels the job."""
    job_id = submit_job(sub, argv=argv, stderr=stderr)
    files = output_files(sub.folder, sub.name, job_id)
    progress = Progress(job_id, stream=stderr)
    try:
        code = follow(job_id, files, transport=sub.transport, stdout=stdout, stderr=stderr,
                      progress=progress)  # fmt: skip
    except KeyboardInterrupt:
        progress.settle()
        return interrupted(sub.transport, job_id, cancelling=True, stderr=stderr)
    progress.ended(code)
    return code


def _prepared(job: Job, args: Sequence[str], attached: bool) -> Submission:
    """Render the job; a job that cannot be rendered leaves no (empty) folder behind."""
    from .ssh import is_remote

    try:
        if not is_remote(job.env):
            require_sbatch()
        return prepare(job, args=args, attached=attached, submitting=True)
    except BaseException:
        _drop_empty(job.dir, job.env)
        raise


def _drop_empty(folder: Path | None, env: Mapping[str, Any]) -> None:
    from .cluster import transport_for

    if folder is None:
        return
    try:
        staged = transport_for(env).stage(folder)
    except SlurmError:
        return
    if staged.is_dir() and not any(staged.iterdir()):
        remove_folder(staged)


def run_slurm(
    job: Job, *, argv: Sequence[str], args: Sequence[str] = (), detached: bool = False
) -> int:
    """``runspec run`` with a Slurm profile: attached (stream, job's exit code) or detached."""
    sub = _prepared(job, args, attached=not detached)
    if not detached:
        return run_attached(sub, argv=argv)
    print(submit_job(sub, argv=argv), flush=True)
    return 0


def dry_run_slurm(
    job: Job, *, args: Sequence[str] = (), attached: bool = True, show_secrets: bool = False
) -> str:
    """What ``runspec run --dry-run`` prints for a Slurm profile: how the job would be
    sent (over ssh: the commands) and the script, secrets masked unless ``show_secrets``.
    Connects nowhere."""
    sub = prepare(job, args=args, attached=attached)
    for warning in sub.script.warnings:
        print(f"runspec: warning: {warning}", file=sys.stderr)
    return _plan(sub) + (sub.script.text if show_secrets else sub.script.masked)


def _plan(sub: Submission) -> str:
    """Over ssh: the commands that would send and submit the job; else nothing."""
    from .remote import SshTransport

    if not isinstance(sub.transport, SshTransport):
        return ""
    folders = list(dict.fromkeys([sub.folder, *(job.dir for job in sub.jobs if job.dir)]))
    command = ["sbatch", "--parsable", str(sub.folder / "sbatch.sh")]
    lines = sub.transport.describe(folders, command, sub.code)
    lines = [*lines[:1], *sub.before, *lines[1:]]
    where = sub.transport.location(sub.folder / "sbatch.sh")
    return "".join(f"{line}\n" for line in [*lines, f"# the batch script ({where}):"])


def run_slurm_pipeline(
    jobs: Sequence[Job], *, argv: Sequence[str], step_args: Sequence[Sequence[str]],
    prefix: bool = False,
) -> int:  # fmt: skip
    """``runspec pipe`` with a Slurm profile: one batch job, streamed; its exit code."""
    from .ssh import is_remote

    if not is_remote(jobs[0].env):
        require_sbatch()
    sub = prepare_pipeline(jobs, step_args=step_args, prefix=prefix)
    return run_attached(sub, argv=argv)


def dry_run_slurm_pipeline(
    jobs: Sequence[Job],
    *,
    step_args: Sequence[Sequence[str]],
    prefix: bool = False,
    show_secrets: bool = False,
) -> str:
    """What ``runspec pipe --dry-run`` prints for a Slurm profile: the plan and the script."""
    sub = prepare_pipeline(jobs, step_args=step_args, prefix=prefix, submitting=False)
    for warning in sub.script.warnings:
        print(f"runspec: warning: {warning}", file=sys.stderr)
    return _plan(sub) + (sub.script.text if show_secrets else sub.script.masked)
