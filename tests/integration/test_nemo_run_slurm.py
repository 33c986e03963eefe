"""A recipe through nemo-run's SlurmExecutor with a LocalTunnel, to a local Slurm test
cluster: nemo-run writes and submits its own batch script, runspec ships the code (git
archive) with the job config in it.

Detached (``runspec submit --via nemo-run``), nemo-run returns its handle at once and the test follows the
job with ``scontrol`` on the session's cluster. Attached (``runspec run``), nemo-run waits
for the job and reads its final state with ``sacct``: those tests use the cluster with
accounting (slurmdbd and MariaDB).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.slurm import SlurmCluster
from tests.cluster.sshd import SshServer
from tests.nemo_run_support import make_repo
from tests.support import REPO, require_module

pytestmark = [pytest.mark.slurm, pytest.mark.extra]

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


FAILING = """\
import sys
print("about to fail", flush=True)
sys.exit(3)
"""


def runspec(
    repo: Path, home: Path, *args: str, cluster: SlurmCluster | None = None,
    ssh: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run runspec in ``repo`` with nemo-run's home at ``home``, against ``cluster`` when given
    (else the session's cluster, which ``SLURM_CONF`` names); ``ssh`` is the body of a shell
    script found as ``ssh`` before the real one (nemo-run's rsync runs ``ssh``)."""
    env = {**os.environ, **(cluster.env if cluster else {})}
    env.update(PYTHONPATH=str(REPO), NEMORUN_HOME=str(home))
    if ssh is not None:
        shims = home.parent / "shims"
        shims.mkdir(exist_ok=True)
        (shims / "ssh").write_text(f"#!/bin/sh\n{ssh}\n")
        (shims / "ssh").chmod(0o755)
        env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
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


@pytest.mark.usefixtures("slurm_cluster")
def test_submit_through_nemo_runs_slurm_executor(tmp_path: Path) -> None:
    require_module("nemo_run")
    repo = tmp_path / "repo"
    make_repo(repo, launch="direct")
    (repo / "env.toml").write_text(ENV_TOML.replace('launcher = "nemo-run"\n', ""))
    home = tmp_path / "nemo-run-home"
    done = runspec(repo, home, "submit", "recipes/train.py", "-p", "cluster", "--via", "nemo-run",
                   "train.lr=0.125", "--", "--flag")  # fmt: skip
    assert done.returncode == 0, done.stderr
    handle = done.stdout.strip()
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


def record_of(repo: Path) -> dict[str, object]:
    [folder] = (repo / ".runspec" / "jobs").iterdir()
    record: dict[str, object] = json.loads((folder / "runspec.json").read_text())
    return record


def job_output(stdout: str) -> list[str]:
    """The job's output lines without nemo-run's ``ROLE/REPLICA `` prefix; anything else on
    stdout (nemo-run's progress) fails the test."""
    lines = stdout.splitlines()
    assert all(re.match(r"[\w-]+/0 ", line) for line in lines), stdout
    return [line.split(" ", 1)[1] for line in lines]


def sacct_state(cluster: SlurmCluster, job_id: str) -> str:
    done = cluster.run("sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State,ExitCode")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_run_attached_waits_for_the_slurm_job_and_reports_success(
    slurm_accounting_cluster: SlurmCluster, tmp_path: Path
) -> None:
    require_module("nemo_run")
    cluster = slurm_accounting_cluster
    repo = tmp_path / "repo"
    make_repo(repo, launch="direct")
    (repo / "env.toml").write_text(ENV_TOML)
    home = tmp_path / "nemo-run-home"
    done = runspec(repo, home, "run", "recipes/train.py", "-p", "cluster", "train.lr=0.25",
                   cluster=cluster)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert job_output(done.stdout) == ["rank - lr 0.25 greeting hello nccl INFO args []"]
    record = record_of(repo)
    handle = str(record["job_id"])
    job_id = handle.rsplit("/", 1)[-1]
    assert handle.startswith("slurm_tunnel://nemo_run/") and job_id.isdigit(), record
    assert (record["launcher"], record["executor"], record["exit_code"]) == ("nemo-run", "slurm", 0)
    details = record["nemo_run"]
    assert isinstance(details, dict) and details["state"] == "SUCCEEDED", details
    assert sacct_state(cluster, job_id) == "COMPLETED|0:0"
    [log] = home.glob(f"experiments/demo-train/*/demo-train/log-*_{job_id}_0.out")
    assert "rank - lr 0.25 greeting hello nccl INFO args []\n" in log.read_text()


def test_run_attached_reports_a_failed_slurm_job(
    slurm_accounting_cluster: SlurmCluster, tmp_path: Path
) -> None:
    require_module("nemo_run")
    cluster = slurm_accounting_cluster
    repo = tmp_path / "repo"
    make_repo(repo, launch="direct", code=FAILING)
    (repo / "env.toml").write_text(ENV_TOML)
    home = tmp_path / "nemo-run-home"
    done = runspec(repo, home, "run", "recipes/train.py", "-p", "cluster", cluster=cluster)
    assert done.returncode == 3, done.stderr
    assert job_output(done.stdout) == ["about to fail"]
    record = record_of(repo)
    job_id = str(record["job_id"]).rsplit("/", 1)[-1]
    details = record["nemo_run"]
    assert isinstance(details, dict) and details["state"] == "FAILED", details
    assert record["exit_code"] == 3
    assert sacct_state(cluster, job_id) == "FAILED|3:0"
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"runspec: demo-train ended FAILED in nemo-run (exit code 3); logs: {details['folder']}"
    )


@pytest.mark.usefixtures("slurm_cluster")
def test_run_attached_is_refused_where_sacct_fails(tmp_path: Path) -> None:
    """nemo-run would submit, fail to read the job's state for a minute, then cancel it."""
    require_module("nemo_run")
    repo = tmp_path / "repo"
    make_repo(repo, launch="direct")
    (repo / "env.toml").write_text(ENV_TOML)
    home = tmp_path / "nemo-run-home"
    done = runspec(repo, home, "run", "recipes/train.py", "-p", "cluster")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "runspec: error: nemo-run follows an attached Slurm job with sacct, which fails here "
        "(Slurm accounting storage is disabled); submit it instead (runspec submit, or run -b), "
        "or run it through runspec's own Slurm path (launcher = \"runspec\")\n"
    )
    jobs = repo / ".runspec" / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())
    assert not (home / "experiments").exists()


def ssh_profile(repo: Path, server: SshServer, remote: Path) -> None:
    """The recipe repository's env.toml: the ``cluster`` profile reached over ``server``."""
    profile, env_vars = ENV_TOML.split("\n[cluster.env_vars]\n")
    (repo / "env.toml").write_text(
        f'{profile}tunnel = "ssh"\nhost = "{server.host}"\nport = {server.port}\n'
        f'user = "{server.user}"\nidentity = "{server.identity}"\n'
        f'remote_job_dir = "{remote}"\n\n[cluster.env_vars]\n{env_vars}'
    )


def test_submit_over_ssh_through_nemo_runs_ssh_tunnel(
    slurm_login_node: SshServer, tmp_path: Path
) -> None:
    """``tunnel = "ssh"``: nemo-run connects to the login node with the profile's host, port,
    user and identity, ships the code to ``remote_job_dir`` and submits there."""
    require_module("nemo_run")
    server, remote = slurm_login_node, tmp_path / "remote"
    repo = tmp_path / "repo"
    make_repo(repo, launch="direct")
    ssh_profile(repo, server, remote)
    home = tmp_path / "nemo-run-home"
    # nemo-run's rsync runs plain ssh, which checks the host key in the user's own
    # known_hosts: give it the test server's instead.
    known = f"exec {shutil.which('ssh')} -o UserKnownHostsFile={server.known_hosts} \"$@\""
    done = runspec(repo, home, "submit", "recipes/train.py", "-p", "cluster", "train.lr=0.5",
                   ssh=known)  # fmt: skip
    assert done.returncode == 0, done.stderr
    handle = done.stdout.strip()
    assert handle.startswith("slurm_tunnel://nemo_run/"), done.stdout
    job_id = handle.rsplit("/", 1)[-1]
    assert finished_state(job_id) == "COMPLETED"
    [log] = remote.glob(f"demo-train/*/demo-train/log-*_{job_id}_0.out")
    assert "rank - lr 0.5 greeting hello nccl INFO args []\n" in log.read_text()


def test_a_failing_ssh_copy_is_a_one_line_error(
    slurm_login_node: SshServer, tmp_path: Path
) -> None:
    require_module("nemo_run")
    repo = tmp_path / "repo"
    make_repo(repo, launch="direct")
    ssh_profile(repo, slurm_login_node, tmp_path / "remote")
    home = tmp_path / "nemo-run-home"
    refused = "echo 'Host key verification failed.' >&2; exit 255"
    done = runspec(repo, home, "submit", "recipes/train.py", "-p", "cluster", ssh=refused)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[-1] == (
        "runspec: error: nemo-run could not launch demo-train: rsync exited with code 255: "
        "Host key verification failed."
    )
    assert "Traceback" not in done.stderr
    [folder] = (repo / ".runspec" / "jobs").iterdir()
    record = json.loads((folder / "runspec.json").read_text())
    assert record["error"] == done.stderr.splitlines()[-1].removeprefix("runspec: error: ")
