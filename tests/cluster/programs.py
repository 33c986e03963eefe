"""Programs the test servers need, and what a test does when they are missing.

Outside CI a missing program (or a missing privilege) skips the test with the command that
installs it; in CI (``CI=true``) it fails the test, because everything must run there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from typing import NoReturn

import pytest

from tests.support import IN_CI

__all__ = ["missing_programs", "require_programs", "require_root", "unavailable"]

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def search_path() -> str:
    """PATH with the sbin folders appended (daemons live there; a user's PATH may lack them)."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join([*parts, *(folder for folder in SBIN if folder not in parts)])


def missing_programs(names: Iterable[str]) -> tuple[str, ...]:
    """The programs among ``names`` found neither on PATH nor in the sbin folders."""
    path = search_path()
    return tuple(name for name in names if shutil.which(name, path=path) is None)


def unavailable(reason: str) -> NoReturn:
    """Skip the test for ``reason``; in CI, fail it."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it)", pytrace=False)
    pytest.skip(reason)


def require_programs(names: Iterable[str], install: str) -> None:
    """Skip (fail in CI) unless every program in ``names`` is installed."""
    missing = missing_programs(names)
    if missing:
        unavailable(f"missing {', '.join(missing)}; install with: {install}")


def require_root(what: str) -> None:
    """Skip (fail in CI) unless this process runs as root."""
    if os.geteuid() != 0:
        unavailable(f"{what} needs root")
