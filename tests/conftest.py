"""Fixtures for every test: recipes, the CLI in-process or for real, and CI's no-skip rule."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runspec.cli import main
from tests.support import IN_CI, REPO, Result, block, cli_env, run_module


@pytest.fixture
def repo() -> Path:
    """The repository root (holds runspec/, examples/, tests/)."""
    return REPO


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """Write ``name`` under tmp_path holding a block with ``toml`` (plus code around it)."""

    def write(name: str, toml: str, before: str = "", after: str = "print('hi')\n") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(before + block(toml) + after, encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``runspec.cli.main`` in this process and capture what it printed."""

    def run(*args: object) -> Result:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_real() -> Callable[..., Result]:
    """Run ``python -m runspec`` for real, in a subprocess, from the repository root."""
    return run_module


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
