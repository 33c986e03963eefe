"""The shell lines a job runs before the recipe: the profile's ``setup`` and
``startup_commands``, read and checked with ``bash -n`` before anything is written.

A syntax error there would otherwise surface only once the job runs (on Slurm, after
waiting in the queue), as a line number of a generated script. Checked here, it is one
line naming the env.toml file, the key's line and the profile that wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ProfileError, RunspecError

if TYPE_CHECKING:
    from .job import Job

__all__ = ["KEYS", "check_script", "check_syntax", "shell_lines"]

KEYS = ("setup", "startup_commands")
"""The keys of ``run.env`` holding shell lines, in the order they run."""

_BASH_ERROR = re.compile(r"^bash: -c: (line \d+: .*)$", re.M)


def shell_lines(env: Mapping[str, Any], key: str) -> list[str]:
    """The lines of ``setup`` (a string or a list) or ``startup_commands`` (a list)."""
    value = env.get(key)
    if value is None:
        return []
    lines = [value] if isinstance(value, str) and key == "setup" else value
    if not isinstance(lines, (list, tuple)) or not all(isinstance(x, str) for x in lines):
        kind = "a string or a list of strings" if key == "setup" else "a list of strings"
        raise RunspecError(f"must be {kind} (got {value!r})", key=f"run.env.{key}")
    return [line.rstrip("\n") for line in lines]


def check_syntax(job: Job) -> None:
    """Raise when the job's ``setup`` or ``startup_commands`` is not valid bash."""
    for key in KEYS:
        lines = shell_lines(job.env, key)
        if not lines:
            continue
        problem = _bash_problem("\n".join(lines))
        if problem is not None:
            raise _located(job, key, f"bash -n: {problem}")


def check_script(text: str, what: str) -> None:
    """Raise when a whole generated script is not valid bash (a runspec bug: every value
    in it is quoted; the setup lines were checked apart)."""
    problem = _bash_problem(text)
    if problem is not None:
        raise RunspecError(f"{what} does not parse (bash -n): {problem}")


def _bash_problem(text: str) -> str | None:
    """bash's first complaint about ``text`` (``line N: ...``), None when it parses or
    when there is no bash to ask."""
    import subprocess

    try:
        done = subprocess.run(
            ["bash", "-n", "-c", text], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if done.returncode == 0:
        return None
    found = _BASH_ERROR.search(done.stderr)
    return found.group(1) if found else done.stderr.strip().splitlines()[0]


def _located(job: Job, key: str, message: str) -> RunspecError:
    """The error for ``key``: at its line in env.toml when a profile wrote it."""
    label = job.env_origins.get((key,), "")
    if job.profile is None or not label.startswith("profile "):
        return RunspecError(message, key=f"run.env.{key}")  # the command line or a config
    from ._toml import key_lines

    origin, path = label.removeprefix("profile "), job.profile.path
    try:
        lines = key_lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        lines = {}
    return ProfileError(message, path=path, line=lines.get((origin, key)), key=f"[{origin}].{key}")
