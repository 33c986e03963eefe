"""Shared fixtures: writing recipe scripts, and running the CLI in-process or for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from runspec.cli import main

REPO = Path(__file__).resolve().parents[1]


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


def run_module(*args: object, cwd: Path = REPO, pythonpath: Path = REPO) -> Result:
    """Run ``python -m runspec ARGS`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "runspec", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def run_real() -> Callable[..., Result]:
    """Run ``python -m runspec`` for real, in a subprocess, from the repository root."""
    return run_module
