"""On the Slurm test cluster: [wandb] settings in the batch script, the API key only in the
job's environment (sbatch passes on the environment it is started with; over ssh, runspec
hands the key to the remote sbatch through the connection)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_remote import Workstation
from tests.test_tracking import ENV_TOML, EXPECTED, KEY, no_file_holds_the_key, project, runspec

#: env.toml's [wandb] section, for the workstation's env.toml
WANDB_SECTION = ENV_TOML[: ENV_TOML.index("[local]")]

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


def test_over_ssh_the_key_reaches_the_job_but_no_file(
    tmp_path: Path, slurm_login_node: Any
) -> None:
    """From a workstation the key goes through the ssh connection into sbatch's environment:
    the login node's shell never had it, and no file on either side holds it."""
    home = Path(tempfile.mkdtemp(prefix="rs-home-"))  # short: the control socket's path
    station = Workstation(tmp_path, slurm_login_node, home, extra=WANDB_SECTION)
    station.checkout.mkdir()
    checkout = project(station.checkout)
    (checkout / ".git").rmdir()
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "probe"]):
        subprocess.run(
            ["git", "-C", str(checkout), "-c", "user.email=t@t", "-c", "user.name=t", *command],
            check=True, capture_output=True,
        )  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runspec", "submit", "probe.py", "-p", "login", "--wait"],
            cwd=checkout, env={**station.env(), "WANDB_API_KEY": KEY},
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (seen,) = station.remote.rglob("seen.json")
        assert json.loads(seen.read_text()) == EXPECTED
        no_file_holds_the_key(station.remote)
        no_file_holds_the_key(home)
        assert KEY not in done.stdout + done.stderr
    finally:
        station.close()
        shutil.rmtree(home, ignore_errors=True)


def test_every_step_of_a_slurm_pipeline_gets_the_key(tmp_path: Path) -> None:
    folder = project(tmp_path)
    done = runspec(folder, "pipe", "-p", "cluster", "probe.py", "+", "probe.py")
    assert done.returncode == 0, done.stderr
    seen = sorted((tmp_path / "jobs").rglob("seen.json"))
    assert [json.loads(path.read_text()) for path in seen] == [EXPECTED, EXPECTED]
    no_file_holds_the_key(tmp_path / "jobs")
    assert KEY not in done.stdout + done.stderr
