"""Helpers shared by the tests: the repository, the CLI environment, optional packages."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["IN_CI", "REPO", "Result", "block", "cli_env", "require_module", "run_module"]

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a runspec subprocess: this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("RUNSPEC_ENV_FILE", None)
    env.update(extra)
    return env


def require_module(name: str) -> None:
    """Skip when ``name`` is not importable; in CI that is a failure instead."""
    if importlib.util.find_spec(name) is None:
        message = f"needs the {name!r} package"
        if IN_CI:
            pytest.fail(message + " (CI must install it)")
        pytest.skip(message)


def block(toml: str, opening: str = "# /// script") -> str:
    """Wrap TOML text into a metadata block, each line commented the way PEP 723 wants."""
    body = "".join(f"# {line}\n" if line else "#\n" for line in toml.splitlines())
    return f"{opening}\n{body}# ///\n"


@dataclass(frozen=True)
class Result:
    """What a CLI run gave: exit code, stdout and stderr."""

    code: int
    out: str
    err: str


def run_module(*args: object, cwd: Path = REPO, pythonpath: Path = REPO) -> Result:
    """Run ``python -m runspec ARGS`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "runspec", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)
