"""How runspec reaches the programs of a cluster: a :data:`Runner` and the local one.

Every Slurm program (``sbatch``, ``scontrol``, ``sacct``, ``squeue``, ``scancel``) and
``git`` is called through a runner, ``argv -> (exit code, stdout, stderr)``, so that
tests can inject one. :func:`run_program` runs the program on this machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["Runner", "run_program"]

Runner = Callable[[Sequence[str]], "tuple[int, str, str]"]
"""Runs a program: ``argv -> (exit code, stdout, stderr)``."""

_TIMEOUT_SECONDS = 60


def run_program(argv: Sequence[str], cwd: str | None = None) -> tuple[int, str, str]:
    """Run ``argv`` and capture its output; a missing program is exit code 127."""
    import subprocess

    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, cwd=cwd,
            timeout=_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]}: no answer within {_TIMEOUT_SECONDS} s"
    return done.returncode, done.stdout, done.stderr
