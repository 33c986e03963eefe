"""The cookbook's ways on a real Slurm cluster (tests/cluster/slurm.sh), through the CLI.

A YAML recipe's job folder keeps ``config.yaml`` and the job on a compute node is called
with it; ``startup_commands`` run before the job; attached runs go to ``run_partition``
and submissions to ``batch_partition`` (the test cluster has one partition, ``debug``,
so the other one is a partition Slurm refuses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_module

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "tests" / "data" / "cookbook_jobs" / "report.py"
TIMEOUT = 180


def _env(tmp_path: Path, run_partition: str, batch_partition: str) -> None:
    jobs = json.dumps(str(tmp_path / "jobs"))
    (tmp_path / "env.toml").write_text(
        "[cluster]\n"
        'executor = "slurm"\n'
        f'run_partition = "{run_partition}"\n'
        f'batch_partition = "{batch_partition}"\n'
        "gpus_per_node = 0\n"
        'time = "10:00"\n'
        f"job_dir = {jobs}\n"
        'startup_commands = ["export STARTED_BY=startup-on-slurm"]\n',
        encoding="utf-8",
    )


def _runspec(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


def test_an_attached_yaml_job_reads_its_config_yaml(tmp_path: Path) -> None:
    require_module("omegaconf")
    _env(tmp_path, run_partition="debug", batch_partition="no-such-partition")
    done = _runspec(tmp_path, "run", str(RECIPE), "-p", "cluster", "greeting=on slurm")
    assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / "jobs" / "cookbook-tests-report").iterdir()
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {
        "path": str(folder / "config.yaml"),
        "same_as_env": True,
        "greeting": "on slurm",
        "data": "tiny-data:latest",
        "startup": "startup-on-slurm",
    }
    assert not (folder / "config.json").exists()
    assert "#SBATCH --partition=debug\n" in (folder / "sbatch.sh").read_text()


def test_a_submission_goes_to_the_batch_partition(tmp_path: Path) -> None:
    require_module("omegaconf")
    _env(tmp_path, run_partition="debug", batch_partition="no-such-partition")
    done = _runspec(tmp_path, "submit", str(RECIPE), "-p", "cluster")
    assert done.returncode == 1
    assert done.stderr.startswith("runspec: error: sbatch failed with exit code 1: ")
    assert "partition" in done.stderr.lower()
    assert not list((tmp_path / "jobs").glob("*/*"))
    _env(tmp_path, run_partition="no-such-partition", batch_partition="debug")
    done = _runspec(tmp_path, "submit", str(RECIPE), "-p", "cluster", "--wait")
    assert done.returncode == 0, done.stderr
    assert '"startup": "startup-on-slurm"' in done.stdout
