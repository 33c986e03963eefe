"""Helpers shared by the tests: the repository, the CLI environment, optional packages."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

__all__ = ["IN_CI", "REPO", "cli_env", "require_module"]

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
