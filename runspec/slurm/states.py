"""The states of many Slurm jobs at once, for ``runspec jobs``.

One ``squeue -t all`` answers for every job the controller still holds (pending,
running, and finished within ``MinJobAge``), with exit codes; one ``sacct`` call asks
the accounting database about the rest, when the cluster keeps one. A job neither
knows is left out of the answer. Polling a single job while following it is
:func:`runspec.slurm.cluster.query`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .transport import Runner

__all__ = ["SlurmState", "kept_state", "parse_clock", "states"]

_SQUEUE_FIELDS = ("JobID", "State", "exit_code", "TimeUsed", "StartTime", "EndTime")
_SACCT_FIELDS = "JobID,State,ExitCode,Elapsed,Start,End"
_TERMINAL = frozenset(
    {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SlurmState:
    """What Slurm says of one job: state, exit code once finished, run time, start."""

    job_id: str
    state: str
    exit_code: int | None
    elapsed: float | None
    """Seconds the job has run (so far), when Slurm says."""
    start: str | None
    """When it started (``YYYY-MM-DDTHH:MM:SS``), if it has."""

    @property
    def finished(self) -> bool:
        """Whether the job will never run again."""
        return self.state in _TERMINAL


def states(ids: Sequence[str], run: Runner) -> dict[str, SlurmState]:
    """The states Slurm knows of ``ids``: one ``squeue``, then one ``sacct`` for the rest."""
    if not ids:
        return {}
    found = _from_squeue(ids, run)
    rest = [job_id for job_id in ids if job_id not in found]
    if rest:
        found.update(_from_sacct(rest, run))
    return found


def _from_squeue(ids: Sequence[str], run: Runner) -> dict[str, SlurmState]:
    form = ",".join(f"{field}:|" for field in _SQUEUE_FIELDS)
    code, out, _ = run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-O", form])
    found = {}
    for line in out.splitlines() if code == 0 else []:
        parts = [part.strip() for part in line.split("|")]
        if len(parts) < len(_SQUEUE_FIELDS) or parts[0] not in ids:
            continue
        job_id, state, status, used, start, _ = parts[: len(_SQUEUE_FIELDS)]
        state = state.split()[0] if state else "UNKNOWN"
        exit_code = _from_status(state, status) if state in _TERMINAL else None
        found[job_id] = SlurmState(job_id, state, exit_code, parse_clock(used), _when(start))
    return found


def _from_sacct(ids: Sequence[str], run: Runner) -> dict[str, SlurmState]:
    argv = ["sacct", "-X", "-n", "-P", "-j", ",".join(ids), "-o", _SACCT_FIELDS]
    code, out, _ = run(argv)
    found = {}
    for line in out.splitlines() if code == 0 else []:
        parts = line.split("|")
        if len(parts) != 6 or parts[0] not in ids:
            continue
        job_id, state, raw, elapsed, start, _ = parts
        state = state.split()[0] if state else "UNKNOWN"
        exit_code = _from_pair(state, raw) if state in _TERMINAL else None
        found[job_id] = SlurmState(job_id, state, exit_code, parse_clock(elapsed), _when(start))
    return found


def _from_status(state: str, text: str) -> int:
    """A shell-style exit code from squeue's wait status (``exit << 8 | signal``)."""
    status = int(text) if text.isdigit() else 0
    code = 128 + (status & 0x7F) if status & 0x7F else status >> 8
    return 1 if code == 0 and state != "COMPLETED" else code


def _from_pair(state: str, text: str) -> int:
    """A shell-style exit code from sacct's ``code:signal``."""
    code, _, signal = text.partition(":")
    number = 128 + int(signal) if signal.isdigit() and int(signal) else int(code or 0)
    return 1 if number == 0 and state != "COMPLETED" else number


def _when(text: str) -> str | None:
    return text if text and text[:1].isdigit() else None


def parse_clock(text: str) -> float | None:
    """Seconds of a Slurm duration: ``[D-]HH:MM:SS``, ``MM:SS`` or ``M:SS``."""
    days, _, clock = text.strip().rpartition("-")
    parts = clock.split(":")
    if not clock or not all(part.isdigit() for part in parts) or len(parts) > 3:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds + (int(days) * 86400 if days.isdigit() else 0))


def kept_state(record: Mapping[str, object]) -> SlurmState | None:
    """The final state a job record kept from an earlier listing (``slurm_state``), if any."""
    kept = record.get("slurm_state")
    if not isinstance(kept, Mapping) or not isinstance(kept.get("state"), str):
        return None
    exit_code = kept.get("exit_code")
    elapsed = kept.get("elapsed")
    start = kept.get("start")
    return SlurmState(
        str(record.get("job_id")), str(kept["state"]),
        exit_code if isinstance(exit_code, int) else None,
        float(elapsed) if isinstance(elapsed, (int, float)) else None,
        start if isinstance(start, str) else None,
    )  # fmt: skip
