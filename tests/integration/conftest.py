"""Fixtures for integration tests that need the local test Slurm cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["slurm_cluster"]

SLURM_SCRIPT = Path(__file__).resolve().parents[1] / "cluster" / "slurm.sh"
SLURM_BINARIES = (
    "sbatch",
    "squeue",
    "scontrol",
    "srun",
    "slurmctld",
    "slurmd",
    "munged",
)
START_TIMEOUT_SECONDS = 120


def _missing_binaries() -> tuple[str, ...]:
    """Return the Slurm and munge programs that are not on PATH (sbin included)."""
    path = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/sbin"))
    return tuple(
        name for name in SLURM_BINARIES if shutil.which(name, path=path) is None
    )


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """Start the local test cluster once per session (a no-op when it is already up).

    Outside CI a machine without Slurm skips the test; in CI (``CI=true``) that is a failure,
    because tests needing Slurm must run there.
    """
    missing = _missing_binaries()
    if missing:
        message = f"Slurm not installed (missing {', '.join(missing)}); run {SLURM_SCRIPT} install"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    result = subprocess.run(
        ["bash", str(SLURM_SCRIPT), "start"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{SLURM_SCRIPT} start failed:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )
    yield
