"""On the Slurm test cluster: [wandb] settings in the batch script, the API key only in the
job's environment (sbatch passes on the environment it is started with)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_tracking import EXPECTED, KEY, no_file_holds_the_key, project, runspec

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


def test_a_slurm_job_gets_the_key_through_its_environment(tmp_path: Path) -> None:
    folder = project(tmp_path)
    done = runspec(folder, "submit", "probe.py", "-p", "cluster", "--wait")
    assert done.returncode == 0, done.stderr
    (seen,) = (tmp_path / "jobs").rglob("seen.json")
    assert json.loads(seen.read_text()) == EXPECTED
    (script,) = (tmp_path / "jobs").rglob("sbatch.sh")
    assert "WANDB_PROJECT=nemotron" in script.read_text()
    no_file_holds_the_key(tmp_path / "jobs")
    assert KEY not in done.stdout + done.stderr
