"""Slurm batch jobs on a cluster: prepare, submit, wait, status and cancel.

These are the thin doers around the pure renderer in :mod:`runspec.slurm.render`.
Every call of a Slurm program goes through a ``runner`` (``argv -> (exit code, stdout,
stderr)``) so tests can inject one, and every job folder reaches the cluster through a
:class:`~runspec.slurm.transport.Transport`: this machine (a login node) or one over
ssh (:mod:`runspec.slurm.remote`). Following a job's output is
:mod:`runspec.slurm.follow`.

Job folders are ``<root>/<job name>/<timestamp>/`` where root is the profile's
``job_dir``, else its ``remote_job_dir``, else ``~/.runspec/jobs`` (a home folder is
on the shared file system of a cluster, and compute nodes must see the folder). Over
ssh the root is always ``remote_job_dir``, a folder on the cluster.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import write_atomic
from .._masking import has_secrets
from ..errors import SlurmError
from .transport import Code, LocalTransport, Runner, Transport, run_program

if TYPE_CHECKING:
    from ..job import Job
    from .remote import SshTransport
    from .render import BatchScript

__all__ = [
    "TERMINAL_STATES",
    "Backoff",
    "Submission",
    "cancel",
    "code_for",
    "default_python",
    "find_repo",
    "job_root",
    "new_job_folder",
    "output_files",
    "prepare",
    "prepare_pipeline",
    "query",
    "remove_folder",
    "render_status",
    "repo_for",
    "require_sbatch",
    "send",
    "status",
    "submit",
    "tail",
    "transport_for",
    "wait",
]

TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT",
    }
)  # fmt: skip
"""Job states after which a job never runs again."""

_NOT_FOUND = 127
_NO_SLURM_HINT = (
    "Slurm's commands are needed here (a login node), or a job submitted from here over ssh"
)


def require_sbatch(which: Callable[[str], str | None] | None = None) -> None:
    """Refuse early when ``sbatch`` is not on PATH (not a Slurm login node)."""
    import shutil

    if (which or shutil.which)("sbatch") is None:
        message = "sbatch not found on PATH; submitting needs a Slurm login node"
        raise SlurmError(message + " ('runspec sbatch' renders the script anywhere)")


def job_root(env: Mapping[str, Any]) -> Path:
    """Where job folders go: ``job_dir``, else ``remote_job_dir``, else ``~/.runspec/jobs``.

    Over ssh (``tunnel = "ssh"``): ``remote_job_dir``, which must then be set.
    """
    from .ssh import SshTarget, is_remote

    if is_remote(env):
        return Path(SshTarget.from_env(env).job_root)
    for key in ("job_dir", "remote_job_dir"):
        value = env.get(key)
        if value:
            return Path(os.path.abspath(os.path.expanduser(str(value))))
    return Path(os.path.expanduser("~")) / ".runspec" / "jobs"


def output_files(job_dir: Path, name: str, job_id: str) -> tuple[Path, Path]:
    """The job's stdout and stderr files (``--output``/``--error`` are ``%x-%j.out/.err``)."""
    return job_dir / f"{name}-{job_id}.out", job_dir / f"{name}-{job_id}.err"


# -- preparing ----------------------------------------------------------------------------


def transport_for(env: Mapping[str, Any]) -> Transport:
    """How a profile reaches its cluster: over ssh (``tunnel = "ssh"``), else this machine."""
    from .ssh import is_remote

    if is_remote(env):
        from .remote import SshTransport
        from .ssh import SshTarget

        return SshTransport(SshTarget.from_env(env))
    return LocalTransport()


def new_job_folder(env: Mapping[str, Any], name: str, *, create: bool = True) -> Path:
    """A new job folder ``<root>/<name>/<timestamp>`` (``-2``, ... when taken).

    Over ssh the folder is on the cluster: what is created (when ``create``) is its
    staging folder here, ``~/.runspec/jobs/<name>/<timestamp>``, which also keeps the
    job's record; the cluster's folder is created when the job is submitted.
    """
    from ..job import new_job_dir, timestamp
    from .ssh import is_remote

    root, leaf = job_root(env), timestamp()
    if not is_remote(env):
        return new_job_dir(root / name, leaf) if create else root / name / leaf
    from .remote import local_root

    staged = new_job_dir(local_root() / name, leaf) if create else local_root() / name / leaf
    return root / name / staged.name


def code_for(job: Job, transport: Transport) -> tuple[Path | None, Code | None]:
    """The recipe's repository (as the renderer wants it) and the code snapshot to send.

    A snapshot is taken when the job runs from one (:func:`uses_snapshot`); outside git
    the recipe's folder is the snapshot, but only over ssh (a login node refuses it).
    """
    from .render import uses_snapshot
    from .snapshot import git_head, take

    if not uses_snapshot(job.env):
        return repo_for(job), None
    head = git_head(job.spec.script_path.parent)
    if head is None and transport.host is None:
        return None, None  # the renderer refuses: 'snapshot' needs the recipe in git
    root = head[0] if head else job.spec.script_path.parent
    snapshot = take(root, git=head is not None, commit=head[1] if head else None)
    assert job.dir is not None
    return root, Code(snapshot, transport.code_folder(snapshot.id, job.dir))


@dataclass(frozen=True)
class Submission:
    """A job (or a pipeline of jobs) rendered for its cluster: what :func:`send` submits."""

    jobs: tuple[Job, ...]
    folder: Path
    """Where ``sbatch.sh`` and the job's output go, on the cluster."""
    name: str
    """The Slurm job name (the output files are ``<name>-<job id>.out`` and ``.err``)."""
    script: BatchScript
    code: Code | None
    transport: Transport
    before: tuple[str, ...] = ()
    """Commands that submitting runs first, as ``--dry-run`` shows them (pin checkouts)."""


def _placed(job: Job, transport: Transport, submitting: bool) -> tuple[Job, tuple[str, ...]]:
    """The job with its pinned sources (``${auto_mount:...}``) placed, and notes about them.

    On a login node they are checked out here; over ssh, on the cluster
    (:mod:`runspec.slurm.pins`).
    """
    from ..auto_mount import placed

    if transport.host is None:
        return placed(job, fetch=submitting)
    from . import pins

    return pins.placed(job, _ssh(transport), submitting=submitting)


def _ssh(transport: Transport) -> SshTransport:
    from .remote import SshTransport

    assert isinstance(transport, SshTransport)
    return transport


def _before(jobs: Sequence[Job], transport: Transport) -> tuple[str, ...]:
    """Over ssh, the commands that check out the jobs' pins (shown by ``--dry-run``)."""
    if transport.host is None:
        return ()
    from .pins import describe

    commands = [tuple(describe(job, _ssh(transport))) for job in jobs]
    return tuple(line for command in dict.fromkeys(commands) for line in command)


def prepare(
    job: Job,
    *,
    args: Sequence[str] = (),
    attached: bool = False,
    submitting: bool = False,
    after: Sequence[str] = (),
    dependency_type: str = "afterok",
    transport: Transport | None = None,
) -> Submission:
    """Render ``job`` for its cluster, with the code snapshot it runs from (if any).

    ``attached``: the job is followed as it runs (the profile's ``run_partition``).
    Pinned sources in the mounts are checked out when ``submitting``, and only planned
    otherwise; what is not checked out yet is said in the script's warnings.
    """
    from ..startup import check_script, check_syntax
    from .render import render_sbatch

    check_syntax(job)
    transport = transport or transport_for(job.env)
    before = () if submitting else _before([job], transport)
    job, notes = _placed(job, transport, submitting)
    repo, code = code_for(job, transport)
    script = render_sbatch(
        job, args=args, after=after, dependency_type=dependency_type, python=default_python(job),
        repo=repo, code=Path(code.folder) if code else None, attached=attached,
        secrets_apart=submitting,
    )  # fmt: skip
    script = replace(script, warnings=(*notes, *script.warnings))
    check_script(script.text, "the batch script")
    assert job.dir is not None
    return Submission((job,), job.dir, job.name, script, code, transport, before)


def prepare_pipeline(
    jobs: Sequence[Job],
    *,
    step_args: Sequence[Sequence[str]],
    prefix: bool = False,
    submitting: bool = True,
    transport: Transport | None = None,
) -> Submission:
    """Render ``jobs`` as one streaming batch job in a folder of its own (made when
    ``submitting``, which also checks out the steps' pinned sources)."""
    from ..startup import check_script, check_syntax
    from .render import pipeline_name, render_pipeline_sbatch

    for job in jobs:
        check_syntax(job)
    transport = transport or transport_for(jobs[0].env)
    before = () if submitting else _before(jobs, transport)
    steps: list[Job] = []
    notes: list[str] = []
    for job in jobs:
        step, said = _placed(job, transport, submitting)
        steps.append(step)
        notes += [note for note in said if note not in notes]  # steps that share a pin
    name = pipeline_name(steps)
    folder = new_job_folder(steps[0].env, name, create=submitting)
    repo, code = code_for(replace(steps[0], dir=folder), transport)
    script = render_pipeline_sbatch(
        steps, folder=folder, name=name, args=step_args, python=default_python(steps[0]),
        repo=repo, code=Path(code.folder) if code else None, prefix=prefix,
        secrets_apart=submitting,
    )  # fmt: skip
    script = replace(script, warnings=(*notes, *script.warnings))
    check_script(script.text, "the batch script")
    return Submission(tuple(steps), folder, name, script, code, transport, before)


# -- submitting ---------------------------------------------------------------------------


def _write_folder(
    transport: Transport, folder: Path, jobs: Sequence[Job], script: BatchScript
) -> None:
    staged = transport.stage(folder)
    staged.mkdir(parents=True, exist_ok=True)
    write_atomic(staged / "sbatch.sh", script.text, script.mode)
    for job in jobs:
        assert job.dir is not None
        where = transport.stage(job.dir)
        where.mkdir(parents=True, exist_ok=True)
        mode = 0o600 if script.secrets or has_secrets(job.config) else 0o644
        write_atomic(where / job.config_file.name, job.config_document(), mode)
    for path, text in script.secret_files:
        transport.stage(path.parent).mkdir(parents=True, exist_ok=True)
        write_atomic(transport.stage(path.parent) / path.name, text, 0o600)


def remove_folder(folder: Path) -> None:
    """Remove a job folder and everything in it, and its parent if that is left empty."""
    from .transport import remove_folder as remove

    remove(folder)


def _records(sub: Submission, argv: Sequence[str], job_id: str, **extra: Any) -> None:
    """Each job folder's ``runspec.json`` (the staged copy, for a job sent over ssh)."""
    from ..job import write_record

    transport = sub.transport
    shared: dict[str, Any] = {"batch_script": str(sub.folder / "sbatch.sh"), **extra}
    out, err = output_files(sub.folder, sub.name, job_id)
    shared["output"] = {"stdout": str(out), "stderr": str(err)}
    shared.update(transport.record_fields())
    if sub.code is not None:
        snapshot = sub.code.snapshot
        shared["snapshot"] = {"id": snapshot.id, "files": len(snapshot.entries),
                              "folder": str(sub.code.folder)}  # fmt: skip
        if snapshot.commit is not None:  # known already: no need to ask git again
            shared["git"] = {"commit": snapshot.commit, "dirty": snapshot.dirty}
    for index, job in enumerate(sub.jobs, start=1):
        assert job.dir is not None
        in_pipeline = len(sub.jobs) > 1 or job.dir != sub.folder
        step = {"pipeline_dir": str(sub.folder), "step": index} if in_pipeline else {}
        write_record(replace(job, dir=transport.stage(job.dir)), argv, job_id, **shared, **step)


def send(sub: Submission, *, argv: Sequence[str], test_only: bool = False) -> str:
    """Write the job folder(s), put them on the cluster, run ``sbatch``; return the job id.

    With ``test_only``: sbatch's answer, and nothing stays. When sbatch fails, its
    stderr is shown verbatim with its exit code and nothing half-written stays.
    """
    transport, folder = sub.transport, sub.folder
    staged = transport.stage(folder)
    if staged.exists() and any(staged.iterdir()):
        raise SlurmError("job folder is not empty; submit again", path=folder)
    folders = list(dict.fromkeys([folder, *(job.dir for job in sub.jobs if job.dir)]))
    try:
        _write_folder(transport, folder, sub.jobs, sub.script)
        if transport.host is not None and not test_only:
            from .remote import RECORD_JOB_ID

            _records(sub, argv, RECORD_JOB_ID)  # sent along; the cluster fills in the id
        options = ["--test-only"] if test_only else ["--parsable"]
        command = ["sbatch", *options, str(folder / "sbatch.sh")]
        code, out, err = transport.submit(folders, command, sub.code)
        if code != 0:
            raise SlurmError(f"sbatch failed with exit code {code}: {err.strip() or out.strip()}")
        if test_only:
            transport.discard(folders)
            return (err or out).strip()
        job_id = job_id_printed(out)
    except BaseException:
        transport.discard(folders)
        raise
    if transport.host is None:
        _records(sub, argv, job_id)
    else:
        _fill_records(sub, job_id)
    return job_id


def _fill_records(sub: Submission, job_id: str) -> None:
    """Put the job id into the staged records (as the cluster did into its copies)."""
    from .remote import RECORD_JOB_ID

    for job in sub.jobs:
        assert job.dir is not None
        path = sub.transport.stage(job.dir) / "runspec.json"
        text = path.read_text(encoding="utf-8").replace(RECORD_JOB_ID, job_id)
        write_atomic(path, text, path.stat().st_mode & 0o777)


def job_id_printed(out: str) -> str:
    """The job id ``sbatch --parsable`` printed (its last line, before any ``;cluster``)."""
    lines = out.strip().splitlines()
    job_id = lines[-1].split(";")[0].strip() if lines else ""
    if not re.fullmatch(r"[0-9]+(?:_[0-9]+)?", job_id):
        raise SlurmError(f"sbatch printed no job id (got {out.strip()!r})")
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

    The one-job form of :func:`send` on this machine (``runner`` replaces its programs).
    """
    if job.dir is None:
        raise SlurmError("the job has no folder", key="run.job.dir")
    transport = LocalTransport(runner)
    code = None
    if script.snapshot is not None:
        from .snapshot import take

        code = Code(take(script.snapshot[0], git=True, runner=runner), script.snapshot[1])
    sub = Submission((job,), job.dir, job.name, script, code, transport)
    return send(sub, argv=argv, test_only=test_only)


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


def _line(out: str, start: str = "") -> str:
    """The command's answer line: the last one (a login shell may print before it)."""
    lines = [line for line in out.strip().splitlines() if line.startswith(start)]
    return lines[-1] if lines else ""


def _query_scontrol(job_id: str, run: Runner) -> dict[str, Any] | None:
    code, out, _ = run(["scontrol", "show", "job", "-o", job_id])
    line = _line(out, "JobId=") if code == 0 else ""
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
        "stderr": fields.get("StdErr", ""),
        "source": "scontrol",
    }


def _query_sacct(job_id: str, run: Runner) -> dict[str, Any] | None:
    fields = "JobID,JobName,State,ExitCode,Reason,NodeList,Elapsed"
    code, out, _ = run(["sacct", "-X", "-n", "-P", "-j", job_id, "-o", fields])
    parts = _line(out).split("|") if code == 0 else []
    if len(parts) != 7:
        return None
    state = parts[2].split()[0] if parts[2] else "UNKNOWN"
    terminal = state in TERMINAL_STATES
    return {
        "job_id": parts[0], "name": parts[1], "state": state,
        "exit_code": _exit_code(state, parts[3]) if terminal else None,
        "reason": parts[4], "nodes": parts[5], "elapsed": parts[6], "stdout": "", "stderr": "",
        "source": "sacct",
    }  # fmt: skip


def _query_squeue(job_id: str, run: Runner) -> dict[str, Any] | None:
    code, out, _ = run(["squeue", "-h", "-j", job_id, "-o", "%i|%j|%T|%r|%N|%M"])
    parts = _line(out).split("|") if code == 0 else []
    if len(parts) != 6:
        return None
    return {
        "job_id": parts[0], "name": parts[1], "state": parts[2], "exit_code": None,
        "reason": parts[3], "nodes": parts[4], "elapsed": parts[5], "stdout": "", "stderr": "",
        "source": "squeue",
    }  # fmt: skip


class _Noting:
    """A runner that notes which programs were not found (exit code 127)."""

    def __init__(self, run: Runner) -> None:
        self.run, self.missing = run, list[str]()

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str]:
        code, out, err = self.run(argv)
        if code == _NOT_FOUND:
            self.missing.append(argv[0])
        return code, out, err


def query(job_id: str, runner: Runner | None = None, host: str | None = None) -> dict[str, Any]:
    """One job's state: ``scontrol``, else ``sacct`` (accounting), else ``squeue``.

    ``host`` names the login node in errors (None: this machine).
    """
    run = _Noting(runner or run_program)
    for ask in (_query_scontrol, _query_sacct, _query_squeue):
        found = ask(job_id, run)
        if found is not None:
            return found
    if len(run.missing) == 3:
        where = f"on the PATH of {host}" if host else f"on PATH; {_NO_SLURM_HINT}"
        raise SlurmError(f"scontrol, sacct and squeue not found {where}")
    message = f"job {job_id} is unknown to Slurm (scontrol, sacct and squeue have no record)"
    raise SlurmError(message + (f" on {host}" if host else ""))


def status(
    ids: Sequence[str], runner: Runner | None = None, host: str | None = None
) -> list[dict[str, Any]]:
    """The state of each job: id, name, state, exit code (when finished), reason, nodes, time."""
    return [query(str(job_id), runner, host) for job_id in ids]


def render_status(rows: Sequence[Mapping[str, Any]]) -> str:
    """A table of job states: id, state, exit code, name, then nodes (or the pending reason)."""
    lines = [f"{'JOBID':<10} {'STATE':<12} {'EXIT':>4}  {'NAME':<24} NODES/REASON"]
    for row in rows:
        code = "" if row["exit_code"] is None else str(row["exit_code"])
        placed = row["nodes"] not in ("", "(null)", "None assigned")
        where = row["nodes"] if placed else row["reason"]
        lines.append(f"{row['job_id']:<10} {row['state']:<12} {code:>4}  {row['name']:<24} {where}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def cancel(
    ids: Sequence[str], runner: Runner | None = None, host: str | None = None
) -> dict[str, str]:
    """Cancel jobs with ``scancel``; its errors are shown verbatim with its exit code.

    Returns what scancel said of jobs it did not cancel (``Job/step already completing
    or completed``). A job id Slurm does not know is an error (scancel itself exits 0).
    """
    run = runner or run_program
    code, out, err = run(["scancel", "--verbose", *map(str, ids)])
    if code == _NOT_FOUND:
        where = f"on the PATH of {host}" if host else f"on PATH; {_NO_SLURM_HINT}"
        raise SlurmError(f"scancel not found {where}")
    if code != 0:
        raise SlurmError(f"scancel failed with exit code {code}: {err.strip() or out.strip()}")
    said = dict(re.findall(r"Kill job error on job id (\S+): (.+)", err))
    unknown = [job_id for job_id, why in said.items() if "Invalid job id" in why]
    if unknown:
        where = f" on {host}" if host else ""
        raise SlurmError(f"job {', '.join(unknown)} is unknown to Slurm{where}: nothing to cancel")
    return {job_id: why.strip() for job_id, why in said.items()}


def wait(
    job_id: str,
    *,
    on_state: Callable[[str], None] | None = None,
    on_poll: Callable[[Mapping[str, Any]], None] | None = None,
    poll: Backoff = Backoff(),
    runner: Runner | None = None,
    sleep: Callable[[float], None] = time.sleep,
    host: str | None = None,
) -> int:
    """Wait until the job ends and return its exit code (``128 + signal`` when killed).

    ``on_state`` is called with each new state, ``on_poll`` with every answer. Polls
    follow ``poll``: quick at first, then never more often than every 3 seconds, up
    to every 10.
    """
    last = None
    for delay in poll.delays():
        found = query(job_id, runner, host)
        if on_poll is not None:
            on_poll(found)
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


def find_repo(script: Path, runner: Runner | None = None) -> Path | None:
    """The git work tree holding ``script``, or None when it is in none."""
    argv = ["git", "-C", str(script.parent), "rev-parse", "--show-toplevel"]
    code, out, _ = (runner or run_program)(argv)
    return Path(out.strip()) if code == 0 and out.strip() else None


def repo_for(job: Job, runner: Runner | None = None) -> Path | None:
    """The recipe's repository when the script needs it (a container or a code snapshot)."""
    from .render import uses_snapshot

    needed = job.image or uses_snapshot(job.env)
    return find_repo(job.spec.script_path, runner) if needed else None


def default_python(job: Job) -> str:
    """The python a job's default command runs: this one, unless the job runs in a
    container (``python``) or on a cluster reached over ssh (``python3`` on its PATH)."""
    if job.image:
        return "python"
    if job.env.get("tunnel") == "ssh":
        return "python3"
    return sys.executable or "python"
