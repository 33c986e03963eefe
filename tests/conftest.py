"""Shared test helpers: running the real CLI, and optional packages that CI must have."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a runspec subprocess: this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("RUNSPEC_ENV_FILE", None)
    env.update(extra)
    return env


@pytest.fixture
def runspec() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m runspec ARGS`` for real and return the finished process."""

    def run(*args: str, cwd: Path | str | None = None, timeout: float = 120, **kw: Any) -> Any:
        env = cli_env(**kw.pop("env", {}))
        return subprocess.run(
            [sys.executable, "-m", "runspec", *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kw,
        )  # fmt: skip

    return run


def require_module(name: str) -> None:
    """Skip when ``name`` is not importable; in CI that is a failure instead."""
    if importlib.util.find_spec(name) is None:
        message = f"needs the {name!r} package"
        if IN_CI:
            pytest.fail(message + " (CI must install it)")
        pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI a skipped test is a failed test: everything there must really run."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"
