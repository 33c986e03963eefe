"""``runspec logs`` for local runs, and the job it means when none is named."""

from __future__ import annotations

import sys

from ..errors import RunspecError

__all__ = ["local_logs", "newest_job"]


def newest_job() -> str:
    """The id of the newest job (local or Slurm), for ``runspec logs`` without one."""
    from ..history import recent

    entries = recent(1, refresh=False)
    if not entries:
        raise RunspecError("no jobs yet: give a Slurm job id, or run a recipe first")
    entry = entries[0]
    return entry.id if entry.executor == "slurm" else str(entry.record.parent)


def local_logs(word: str, *, follow: bool) -> int:
    """Print (or follow) the logs of local job ``word``; with ``follow``, return its exit code."""
    from ..history import find_local, local_state, read_record
    from ..run import logs

    entry = find_local(word)
    if entry is None:
        raise RunspecError(
            f"no job {word!r}: give a Slurm job id, or a local job's id or folder ('runspec jobs')"
        )
    if entry.executor == "slurm":
        raise RunspecError(f"{word} is Slurm job {entry.data.get('job_id')}: runspec logs JOBID")
    files = logs.log_files(entry.record, entry.data)
    if not follow:
        if not logs.print_logs(files):
            _note(f"job {entry.id} has no logs (it never started, or ran before runspec kept them)")
        return 0

    def ended() -> bool:
        data = read_record(entry.record) or entry.data
        return local_state(data)[0] != "RUNNING"

    try:
        logs.follow(files, ended)
    except KeyboardInterrupt:
        _note(f"stopped following job {entry.id}; it keeps running")
        return 130
    state, code, _ = local_state(read_record(entry.record) or entry.data)
    if code is None:
        _note(f"job {entry.id}: {state}")
        return 1
    return code


def _note(message: str) -> None:
    print(f"runspec: {message}", file=sys.stderr, flush=True)
