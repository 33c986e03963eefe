"""Slurm batch jobs on a cluster: submit, wait, status, cancel, and following the output.

These are the thin doers around the pure renderer in :mod:`runspec.slurm.render`.
Every call of a Slurm program goes through a ``runner`` (``argv -> (exit code, stdout,
stderr)``, see :mod:`runspec.slurm.transport`) so tests can inject one; the default
runs the program on this machine.

Job folders are ``<root>/<job name>/<timestamp>/`` where root is the profile's
``job_dir``, else its ``remote_job_dir``, else ``~/.runspec/jobs`` (a home folder is
on the shared file system of a cluster, and compute nodes must see the folder).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .._files import write_atomic
from ..errors import SlurmError
from .transport import Runner, run_program

if TYPE_CHECKING:
    from ..job import Job
    from .render import BatchScript

__all__ = [
    "TERMINAL_STATES",
    "Backoff",
    "cancel",
    "default_python",
    "dry_run_slurm",
    "dry_run_slurm_pipeline",
    "find_repo",
    "follow",
    "job_folder",
    "job_root",
    "output_files",
    "prepare",
    "query",
    "refuse_tunnel",
    "remove_folder",
    "render_status",
    "repo_for",
    "require_sbatch",
    "run_attached",
    "run_slurm",
    "run_slurm_pipeline",
    "status",
    "submit",
    "submit_pipeline",
    "tail",
    "wait",
]

TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT",
    }
)  # fmt: skip
"""Job states after which a job never runs again."""

def refuse_tunnel(env: Mapping[str, Any]) -> None:
    """Refuse to submit a job whose profile reaches its cluster over ssh (``tunnel = "ssh"``).

    ``sbatch`` and ``--dry-run`` still show such a job; submitting it needs runspec on
    a login node of the cluster until remote submission exists.
    """
    if env.get("tunnel") != "ssh":
        return
    host, user = env.get("host"), env.get("user")
    where = f" to {user}@{host}" if host and user else f" to {host}" if host else ""
    message = (
        f"submitting over ssh{where} is not available yet: run runspec on a login node of"
        " the cluster (tunnel = \"local\"); 'runspec sbatch' and --dry-run show the job"
    )
    raise SlurmError(message, key="run.env.tunnel")


def require_sbatch(which: Callable[[str], str | None] | None = None) -> None:
    """Refuse early when ``sbatch`` is not on PATH (not a Slurm login node)."""
    import shutil

    if (which or shutil.which)("sbatch") is None:
        message = "sbatch not found on PATH; submitting needs a Slurm login node"
        raise SlurmError(message + " ('runspec sbatch' renders the script anywhere)")


def job_root(env: Mapping[str, Any]) -> Path:
    """Where job folders go: ``job_dir``, else ``remote_job_dir``, else ``~/.runspec/jobs``."""
    for key in ("job_dir", "remote_job_dir"):
        value = env.get(key)
        if value:
            return Path(os.path.abspath(os.path.expanduser(str(value))))
    return Path(os.path.expanduser("~")) / ".runspec" / "jobs"


def job_folder(env: Mapping[str, Any], name: str, stamp: str) -> Path:
    """A job folder ``<root>/<name>/<stamp>`` that does not exist yet (``-2``, ... if taken).

    Nothing is created; :func:`submit` creates the folder.
    """
    parent = job_root(env) / name
    for attempt in range(1, 1000):
        folder = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        if not folder.exists():
            return folder
    raise SlurmError(f"too many job folders named {stamp}", path=parent)


def output_files(job_dir: Path, name: str, job_id: str) -> tuple[Path, Path]:
    """The job's stdout and stderr files (``--output``/``--error`` are ``%x-%j.out/.err``)."""
    return job_dir / f"{name}-{job_id}.out", job_dir / f"{name}-{job_id}.err"


# -- submitting ---------------------------------------------------------------------------


def _snapshot(repo: Path, target: Path, runner: Runner) -> None:
    """Copy the repository's tracked and untracked-but-not-ignored files, as they are now."""
    import shutil

    argv = ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    code, out, err = runner(argv)
    if code != 0:
        raise SlurmError(f"git ls-files failed with exit code {code}: {err.strip()}", path=repo)
    for relative in dict.fromkeys(out.split("\0")):
        source = repo / relative
        if not relative or (source.is_dir() and not source.is_symlink()):
            continue  # submodules are folders; an empty name ends the list
        if not os.path.lexists(source):
            continue  # deleted in the work tree but still in the index
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)


def _write_folder(folder: Path, jobs: Sequence[Job], script: BatchScript, run: Runner) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = write_atomic(folder / "sbatch.sh", script.text, script.mode)
    for job in jobs:
        assert job.dir is not None
        job.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(job.config_file, job.config_document(), script.mode)
    if script.snapshot is not None:
        _snapshot(*script.snapshot, run)
    return path


def remove_folder(folder: Path) -> None:
    """Remove a job folder and everything in it, and its parent if that is left empty."""
    import contextlib
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # the job name's folder, when this was its only job


def _sbatch(folder: Path, jobs: Sequence[Job], script: BatchScript, test_only: bool,
            runner: Runner | None) -> str:
    if folder.exists() and any(folder.iterdir()):
        raise SlurmError("job folder is not empty; submit again", path=folder)
    run = runner or (lambda command: run_program(command, cwd=str(folder)))
    try:
        path = _write_folder(folder, jobs, script, run)
        options = ["--test-only"] if test_only else ["--parsable"]
        code, out, err = run(["sbatch", *options, str(path)])
        if code != 0:
            raise SlurmError(f"sbatch failed with exit code {code}: {err.strip() or out.strip()}")
        if test_only:
            remove_folder(folder)
            return (err or out).strip()
        job_id = out.strip().split(";")[0]
        if not re.fullmatch(r"[0-9]+(?:_[0-9]+)?", job_id):
            raise SlurmError(f"sbatch printed no job id (got {out.strip()!r})")
    except BaseException:
        remove_folder(folder)
        raise
    return job_id


def submit(
    job: Job,
    script: BatchScript,
    *,
    argv: Sequence[str],
    test_only: bool = False,
    runner: Runner | None = None,
) -> str:
    """Create the job folder, write the script, config and record, run ``sbatch --parsable``.

    Returns the job id (with ``test_only``: sbatch's answer, and the folder is removed).
    When sbatch fails its stderr is shown verbatim with its exit code and the folder is
    removed, so nothing half-written stays.
    """
    from ..job import write_record

    if job.dir is None:
        raise SlurmError("the job has no folder", key="run.job.dir")
    job_id = _sbatch(job.dir, [job], script, test_only, runner)
    if not test_only:
        write_record(job, argv, job_id, batch_script=str(job.dir / "sbatch.sh"))
    return job_id


def submit_pipeline(
    jobs: Sequence[Job],
    script: BatchScript,
    *,
    folder: Path,
    argv: Sequence[str],
    test_only: bool = False,
    runner: Runner | None = None,
) -> str:
    """Like :func:`submit` for a script of :func:`~runspec.slurm.render.render_pipeline_sbatch`.

    ``folder`` gets the script and the job's output; each step's folder (inside it or
    not) gets its config and a ``runspec.json`` record naming the step.
    """
    from ..job import write_record

    job_id = _sbatch(folder, jobs, script, test_only, runner)
    if not test_only:
        for index, job in enumerate(jobs, start=1):
            extra = {"pipeline_dir": str(folder), "step": index}
            write_record(job, argv, job_id, batch_script=str(folder / "sbatch.sh"), **extra)
    return job_id


# -- following ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Poll delays: ``first`` seconds for ``quick`` polls, then growing to ``most`` seconds."""

    first: float = 1.0
    quick: int = 3
    factor: float = 1.5
    most: float = 10.0

    def delays(self) -> Iterator[float]:
        """The delay before each next poll (endless)."""
        delay, count = self.first, 0
        while True:
            yield delay
            count += 1
            if count >= self.quick:
                delay = min(self.most, max(delay * self.factor, 3.0))


def _fields(text: str) -> dict[str, str]:
    """``Key=Value`` pairs of one ``scontrol show job -o`` line (values may hold spaces)."""
    matches = list(re.finditer(r"(?:^|\s)([A-Za-z:/]+)=", text))
    fields = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        fields[match.group(1)] = text[match.end() : end].strip()
    return fields


def _exit_code(state: str, raw: str) -> int:
    """A shell-style exit code from Slurm's ``code:signal``; 1 if a failed job says 0."""
    code, _, signal = raw.partition(":")
    number = 128 + int(signal) if signal.isdigit() and int(signal) else int(code or 0)
    if state != "COMPLETED" and number == 0:
        return 1
    return number


def _query_scontrol(job_id: str, run: Runner) -> dict[str, Any] | None:
    code, out, _ = run(["scontrol", "show", "job", "-o", job_id])
    line = out.strip().splitlines()[0] if code == 0 and out.strip() else ""
    if not line:
        return None
    fields = _fields(line)
    state = fields.get("JobState", "UNKNOWN").split()[0]
    return {
        "job_id": fields.get("JobId", job_id),
        "name": fields.get("JobName", ""),
        "state": state,
        "exit_code": _exit_code(state, fields.get("ExitCode", "0:0"))
        if state in TERMINAL_STATES
        else None,
        "reason": fields.get("Reason", ""),
        "nodes": fields.get("NodeList", ""),
        "elapsed": fields.get("RunTime", ""),
        "stdout": fields.get("StdOut", ""),
        "source": "scontrol",
    }


def _query_sacct(job_id: str, run: Runner) -> dict[str, Any] | None:
    fields = "JobID,JobName,State,ExitCode,Reason,NodeList,Elapsed"
    code, out, _ = run(["sacct", "-X", "-n", "-P", "-j", job_id, "-o", fields])
    line = out.strip().splitlines()[0] if code == 0 and out.strip() else ""
    parts = line.split("|")
    if len(parts) != 7:
        return None
    state = parts[2].split()[0] if parts[2] else "UNKNOWN"
    terminal = state in TERMINAL_STATES
    return {
        "job_id": parts[0], "name": parts[1], "state": state,
        "exit_code": _exit_code(state, parts[3]) if terminal else None,
        "reason": parts[4], "nodes": parts[5], "elapsed": parts[6], "stdout": "",
        "source": "sacct",
    }  # fmt: skip


def _query_squeue(job_id: str, run: Runner) -> dict[str, Any] | None:
    code, out, _ = run(["squeue", "-h", "-j", job_id, "-o", "%i|%j|%T|%r|%N|%M"])
    parts = out.strip().split("|") if code == 0 else []
    if len(parts) != 6:
        return None
    return {
        "job_id": parts[0], "name": parts[1], "state": parts[2], "exit_code": None,
        "reason": parts[3], "nodes": parts[4], "elapsed": parts[5], "stdout": "",
        "source": "squeue",
    }  # fmt: skip


def query(job_id: str, runner: Runner | None = None) -> dict[str, Any]:
    """One job's state: ``scontrol``, else ``sacct`` (accounting), else ``squeue``."""
    run = runner or run_program
    for ask in (_query_scontrol, _query_sacct, _query_squeue):
        found = ask(job_id, run)
        if found is not None:
            return found
    message = f"job {job_id} is unknown to Slurm (scontrol, sacct and squeue have no record)"
    raise SlurmError(message)


def status(ids: Sequence[str], runner: Runner | None = None) -> list[dict[str, Any]]:
    """The state of each job: id, name, state, exit code (when finished), reason, nodes, time."""
    return [query(str(job_id), runner) for job_id in ids]


def render_status(rows: Sequence[Mapping[str, Any]]) -> str:
    """A table of job states: id, state, exit code, name, then nodes (or the pending reason)."""
    lines = [f"{'JOBID':<10} {'STATE':<12} {'EXIT':>4}  {'NAME':<24} NODES/REASON"]
    for row in rows:
        code = "" if row["exit_code"] is None else str(row["exit_code"])
        placed = row["nodes"] not in ("", "(null)", "None assigned")
        where = row["nodes"] if placed else row["reason"]
        lines.append(f"{row['job_id']:<10} {row['state']:<12} {code:>4}  {row['name']:<24} {where}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def cancel(ids: Sequence[str], runner: Runner | None = None) -> None:
    """Cancel jobs with ``scancel``; its errors are shown verbatim with its exit code."""
    code, out, err = (runner or run_program)(["scancel", *map(str, ids)])
    if code != 0:
        raise SlurmError(f"scancel failed with exit code {code}: {err.strip() or out.strip()}")


def wait(
    job_id: str,
    *,
    on_state: Callable[[str], None] | None = None,
    poll: Backoff = Backoff(),
    runner: Runner | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Wait until the job ends and return its exit code (``128 + signal`` when killed).

    ``on_state`` is called with each new state. Polls follow ``poll``: quick at first,
    then never more often than every 3 seconds, up to every 10.
    """
    last = None
    for delay in poll.delays():
        found = query(job_id, runner)
        if found["state"] != last:
            last = found["state"]
            if on_state is not None:
                on_state(last)
        if found["state"] in TERMINAL_STATES:
            code: int = found["exit_code"]
            return code
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    from collections import deque

    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return "".join(deque(stream, maxlen=lines))
    except FileNotFoundError:
        return ""


# -- attached runs ------------------------------------------------------------------------


class _Follower:
    """Copies what a growing file gains to a stream."""

    def __init__(self, path: Path, stream: TextIO) -> None:
        self.path, self.stream, self.offset = path, stream, 0

    def pump(self) -> None:
        try:
            with open(self.path, "rb") as source:
                source.seek(self.offset)
                data = source.read()
        except FileNotFoundError:
            return
        if data:
            self.offset += len(data)
            buffer = getattr(self.stream, "buffer", None)
            if buffer is not None:
                self.stream.flush()
                buffer.write(data)
                buffer.flush()
            else:
                self.stream.write(data.decode("utf-8", errors="replace"))
                self.stream.flush()


def follow(
    job_id: str,
    files: Sequence[Path],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    poll: Backoff = Backoff(),
) -> int:
    """Wait for a job while copying its output files (stdout, stderr) as they grow."""
    streams = (stdout or sys.stdout, stderr or sys.stderr)
    followers = [_Follower(path, stream) for path, stream in zip(files, streams, strict=True)]

    def idle(seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            for follower in followers:
                follower.pump()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.25, left))

    code = wait(job_id, poll=poll, sleep=idle)
    idle(0)
    return code


def run_attached(
    job: Job,
    *,
    argv: Sequence[str],
    args: Sequence[str] = (),
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Submit ``job`` (its folder planned or created empty), stream its output, return its code.

    This is ``runspec run`` with a Slurm profile: the job's stdout and stderr files are
    copied to ``stdout``/``stderr`` as they grow; the exit code is the job's.
    """
    job, job_id = _submit_rendered(job, argv=argv, args=args, stderr=stderr, attached=True)
    assert job.dir is not None
    files = output_files(job.dir, job.name, job_id)
    return follow(job_id, files, stdout=stdout, stderr=stderr)


def _submit_rendered(
    job: Job, *, argv: Sequence[str], args: Sequence[str], stderr: TextIO | None, attached: bool
) -> tuple[Job, str]:
    err = stderr or sys.stderr
    try:
        refuse_tunnel(job.env)
        require_sbatch()
        job, script = prepare(job, args=args, attached=attached, submitting=True)
    except BaseException:
        if job.dir is not None and job.dir.is_dir() and not any(job.dir.iterdir()):
            remove_folder(job.dir)
        raise
    for warning in script.warnings:
        print(f"runspec: warning: {warning}", file=err)
    job_id = submit(job, script, argv=argv)
    print(f"runspec: submitted batch job {job_id} ({job.dir})", file=err, flush=True)
    return job, job_id


def run_slurm(
    job: Job, *, argv: Sequence[str], args: Sequence[str] = (), detached: bool = False
) -> int:
    """``runspec run`` with a Slurm profile: attached (stream, job's exit code) or detached."""
    if not detached:
        return run_attached(job, argv=argv, args=args)
    _, job_id = _submit_rendered(job, argv=argv, args=args, stderr=None, attached=False)
    print(job_id, flush=True)
    return 0


def dry_run_slurm(
    job: Job, *, args: Sequence[str] = (), attached: bool = True, show_secrets: bool = False
) -> str:
    """What ``runspec run --dry-run`` prints for a Slurm profile: the script, secrets masked."""
    _, script = prepare(job, args=args, attached=attached, submitting=False)
    for warning in script.warnings:
        print(f"runspec: warning: {warning}", file=sys.stderr)
    return script.text if show_secrets else script.masked


def _pipeline_script(
    jobs: Sequence[Job], step_args: Sequence[Sequence[str]], *, submitting: bool
) -> tuple[list[Job], Path, str, BatchScript]:
    from dataclasses import replace

    from ..auto_mount import placed
    from ..job import timestamp
    from .render import pipeline_name, render_pipeline_sbatch

    steps: list[Job] = []
    notes: list[str] = []
    for job in jobs:
        step, said = placed(job, fetch=submitting)
        steps.append(step)
        notes += said
    name = pipeline_name(steps)
    folder = job_folder(steps[0].env, name, timestamp())
    script = render_pipeline_sbatch(
        steps, folder=folder, name=name, args=step_args, python=default_python(steps[0]),
        repo=repo_for(steps[0]),
    )  # fmt: skip
    return steps, folder, name, replace(script, warnings=(*notes, *script.warnings))


def run_slurm_pipeline(
    jobs: Sequence[Job], *, argv: Sequence[str], step_args: Sequence[Sequence[str]]
) -> int:
    """``runspec pipe`` with a Slurm profile: one batch job, streamed; its exit code."""
    refuse_tunnel(jobs[0].env)
    require_sbatch()
    jobs, folder, name, script = _pipeline_script(jobs, step_args, submitting=True)
    for warning in script.warnings:
        print(f"runspec: warning: {warning}", file=sys.stderr)
    job_id = submit_pipeline(jobs, script, folder=folder, argv=argv)
    print(f"runspec: submitted batch job {job_id} ({folder})", file=sys.stderr, flush=True)
    return follow(job_id, output_files(folder, name, job_id))


def dry_run_slurm_pipeline(
    jobs: Sequence[Job], *, step_args: Sequence[Sequence[str]], show_secrets: bool = False
) -> str:
    """What ``runspec pipe --dry-run`` prints for a Slurm profile: the script, masked."""
    script = _pipeline_script(jobs, step_args, submitting=False)[3]
    for warning in script.warnings:
        print(f"runspec: warning: {warning}", file=sys.stderr)
    return script.text if show_secrets else script.masked


def find_repo(script: Path, runner: Runner | None = None) -> Path | None:
    """The git work tree holding ``script``, or None when it is in none."""
    argv = ["git", "-C", str(script.parent), "rev-parse", "--show-toplevel"]
    code, out, _ = (runner or run_program)(argv)
    return Path(out.strip()) if code == 0 and out.strip() else None


def repo_for(job: Job, runner: Runner | None = None) -> Path | None:
    """The recipe's repository when the script needs it (a container or a code snapshot)."""
    needed = job.image or job.env.get("code") == "snapshot"
    return find_repo(job.spec.script_path, runner) if needed else None


def default_python(job: Job) -> str:
    """The python a job's default command runs: this one, unless the job runs in a container."""
    if job.image:
        return "python"
    return sys.executable or "python"


def prepare(
    job: Job,
    *,
    args: Sequence[str] = (),
    attached: bool,
    submitting: bool,
    after: Sequence[str] = (),
    dependency_type: str = "afterok",
) -> tuple[Job, BatchScript]:
    """The job as it is submitted, and its batch script.

    Pinned sources in the mounts (``${auto_mount:...}``) are checked out when
    ``submitting``, and only planned otherwise; what is not checked out yet is said in
    the script's warnings.
    """
    from dataclasses import replace

    from ..auto_mount import placed
    from .render import render_sbatch

    job, notes = placed(job, fetch=submitting)
    script = render_sbatch(
        job, args=args, after=after, dependency_type=dependency_type,
        python=default_python(job), repo=repo_for(job), attached=attached,
    )  # fmt: skip
    return job, replace(script, warnings=(*notes, *script.warnings))
