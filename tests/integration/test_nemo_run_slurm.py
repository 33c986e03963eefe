"""A recipe submitted through nemo-run's SlurmExecutor with a LocalTunnel, to the local Slurm
test cluster: nemo-run writes and submits its own batch script, runspec ships the code (git
archive) with the job config in it.

The submission is detached (``runspec submit``): nemo-run returns its handle at once, and
the test follows the job with ``scontrol``, as nemo-run's attached mode would need Slurm
accounting (``sacct``), which this cluster does not keep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.nemo_run_support import make_repo
from tests.support import REPO, require_module

pytestmark = [pytest.mark.slurm, pytest.mark.extra, pytest.mark.usefixtures("slurm_cluster")]

ENV_TOML = """\
[cluster]
executor = "slurm"
launcher = "nemo-run"
account = "runspec-tests"
partition = "debug"
time = "10:00"
gpus_per_node = 0
startup_commands = ["export STARTED_BY_SETUP=yes"]

[cluster.env_vars]
NCCL_DEBUG = "INFO"
"""

WAIT_SECONDS = 300


def runspec(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NEMORUN_HOME": str(home)}
    env.pop("RUNSPEC_ENV_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args],
        cwd=repo, env=env, capture_output=True, text=True, timeout=WAIT_SECONDS,
    )  # fmt: skip


def finished_state(job_id: str) -> str:
    """Wait (generously: the cluster is shared) until Slurm reports the job finished."""
    deadline = time.monotonic() + WAIT_SECONDS
    state = ""
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=False
        )
        fields = dict(part.split("=", 1) for part in done.stdout.split() if "=" in part)
        state = fields.get("JobState", "")
        if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"):
            return state
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish in {WAIT_SECONDS} s (last state {state!r})")


def test_submit_through_nemo_runs_slurm_executor(tmp_path: Path) -> None:
    require_module("nemo_run")
    repo = tmp_path / "repo"
    make_repo(repo, launch="direct")
    (repo / "env.toml").write_text(ENV_TOML)
    home = tmp_path / "nemo-run-home"
    done = runspec(repo, home, "submit", "recipes/train.py", "-p", "cluster", "train.lr=0.125",
                   "--", "--flag")  # fmt: skip
    assert done.returncode == 0, done.stderr
    handle = done.stdout.strip().splitlines()[-1]
    assert handle.startswith("slurm_tunnel://nemo_run/"), done.stdout
    job_id = handle.rsplit("/", 1)[-1]
    assert finished_state(job_id) == "COMPLETED"

    [log] = home.glob(f"experiments/demo-train/*/demo-train/log-*_{job_id}_0.out")
    assert "rank - lr 0.125 greeting hello nccl INFO args ['--flag']\n" in log.read_text()
    [script] = home.glob("experiments/demo-train/*/demo-train_sbatch.sh")
    batch = script.read_text()
    assert "#SBATCH --partition=debug\n" in batch and "export STARTED_BY_SETUP=yes\n" in batch
    assert "#SBATCH --job-name=runspec-demo-train\n" in batch

    [folder] = (repo / ".runspec" / "jobs").iterdir()
    record = json.loads((folder / "runspec.json").read_text())
    assert (record["launcher"], record["job_id"], record["executor"]) == (
        "nemo-run", handle, "slurm",
    )  # fmt: skip
    assert "exit_code" not in record
