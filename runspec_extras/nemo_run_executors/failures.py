"""nemo-run's failures in one line: it raises what its tools raise (invoke's
``UnexpectedExit`` for a failed ``rsync`` or ``sbatch``, paramiko's errors for SSH), with
the command, its output and a traceback; runspec shows what failed and why."""

from __future__ import annotations

__all__ = ["describe_failure"]


def describe_failure(exc: BaseException) -> str:
    """``rsync exited with code 255: Host key verification failed.`` for a failed command,
    else the error's first line and its type."""
    result = getattr(exc, "result", None)
    command = getattr(result, "command", None)
    if isinstance(command, str) and isinstance(getattr(result, "exited", None), int):
        program = command.split()[0] if command.split() else "a command"
        said = _first_line(getattr(result, "stderr", "")) or _first_line(
            getattr(result, "stdout", "")
        )
        why = f": {said}" if said else ""
        return f"{program} exited with code {result.exited}{why}"  # type: ignore[union-attr]
    return f"{_first_line(str(exc)) or '(no message)'} ({type(exc).__name__})"


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""
