"""Fixtures for every test: the real CLI, and the rule that CI skips nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import IN_CI, cli_env


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI a skipped test is a failed test: everything there must really run."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"
