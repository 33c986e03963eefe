"""The private test servers themselves: Slurm clusters.

What the rest of the suite relies on: jobs run where they were asked to and see what they
were given; clusters in different folders run side by side without touching each other.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.cluster.folders import OWNER_FILE
from tests.cluster.slurm import (
    SCRIPT,
    SlurmCluster,
    discard_cluster,
    new_cluster,
    reap_abandoned_clusters,
)

JOB_TIMEOUT_SECONDS = 120

# (sbatch options, job command, expected output lines in sorted order)
CASES = (
    (("--nodelist=node1",), "echo hello from $SLURMD_NODENAME", ("hello from node1",)),
    (
        ("--nodes=2", "--ntasks-per-node=1", "--nodelist=node[1-2]"),
        "srun bash -c 'echo task $SLURM_PROCID on $SLURMD_NODENAME'",
        ("task 0 on node1", "task 1 on node2"),
    ),
    (
        ("--nodelist=node3", "--gpus-per-node=2"),
        "echo $SLURMD_NODENAME CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES",
        ("node3 CUDA_VISIBLE_DEVICES=0,1",),
    ),
    (
        # A job that exports nothing still reaches its own cluster: slurmd sets SLURM_CONF.
        ("--export=NONE", "--nodelist=node2"),
        "/usr/bin/srun /bin/echo srun in a job without exports",
        ("srun in a job without exports",),
    ),
)


FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


def wait_for_job(job_id: str, env: dict[str, str] | None) -> str:
    """Poll ``scontrol`` until the job has ended; return its final state.

    (``sbatch --wait`` polls at growing intervals and can return seconds after the job.)
    """
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while True:
        shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=env,
                               capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        state = shown.stdout.partition("JobState=")[2].split(" ")[0]
        if state in FINAL_STATES:
            return state
        assert time.monotonic() < deadline, f"job {job_id} still {state or shown.stderr}"
        time.sleep(0.2)


def run_batch(
    tmp_path: Path, options: tuple[str, ...], command: str, env: dict[str, str] | None = None
) -> tuple[str, ...]:
    """Submit ``command``, wait until it ends; return its output lines, sorted."""
    submitted = subprocess.run(
        ["sbatch", "--parsable", f"--chdir={tmp_path}", "--output=%j.out", *options,
         f"--wrap={command}"],
        capture_output=True, text=True, timeout=JOB_TIMEOUT_SECONDS, check=False, env=env,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    assert wait_for_job(job_id, env) == "COMPLETED"
    return tuple(sorted((tmp_path / f"{job_id}.out").read_text().splitlines()))


@pytest.mark.slurm
@pytest.mark.parametrize(
    ("options", "command", "expected"),
    CASES,
    ids=("one-node", "two-nodes", "gpu-gres", "export-none"),
)
@pytest.mark.usefixtures("slurm_cluster")
def test_batch_job_output(
    tmp_path: Path, options: tuple[str, ...], command: str, expected: tuple[str, ...]
) -> None:
    """A batch job runs where it was asked to and sees the resources it was given."""
    assert run_batch(tmp_path, options, command) == expected


@pytest.mark.slurm
def test_session_exports_its_cluster(slurm_cluster: SlurmCluster) -> None:
    """The session's clients reach the session's cluster: SLURM_CONF names its config."""
    assert os.environ["SLURM_CONF"] == str(slurm_cluster.conf)
    assert slurm_cluster.conf.read_text().startswith("# Written by tests/cluster/slurm.sh")


def daemons(cluster: SlurmCluster) -> dict[str, int]:
    """The cluster's daemons as its pid files name them."""
    run = cluster.folder / "run"
    return {path.stem: int(path.read_text()) for path in sorted(run.glob("*.pid"))}


def job_names(cluster: SlurmCluster) -> list[str]:
    done = cluster.run("squeue", "-h", "-o", "%j")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.slurm
def test_clusters_side_by_side_leave_each_other_alone(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    """A cluster started next to a running one uses its own ports, config and daemons; its
    jobs are its own; stopping it leaves the other's config file and daemons as they were."""
    other = new_cluster()
    try:
        conf_before, daemons_before = other.conf.read_bytes(), daemons(other)
        processes_before = sorted(other.processes())  # the daemons and slurmctld's helper
        assert set(daemons_before.values()) < set(processes_before)
        assert sorted(daemons_before) == [
            "munged", "slurmctld", "slurmd-node1", "slurmd-node2", "slurmd-node3",
        ]  # fmt: skip
        mine = new_cluster()
        try:
            assert not set(mine.ports()) & set(other.ports())
            assert not set(mine.ports()) & set(slurm_cluster.ports())
            held = mine.run(
                "sbatch", "--hold", "--job-name=only-mine", "--output=/dev/null", "--wrap=true"
            )
            assert held.returncode == 0, held.stderr
            assert job_names(mine) == ["only-mine"]
            assert job_names(other) == []
            assert run_batch(tmp_path, (), "echo mine", env=mine.environ()) == ("mine",)
        finally:
            discard_cluster(mine)
        assert mine.processes() == ()
        assert other.conf.read_bytes() == conf_before
        assert daemons(other) == daemons_before
        assert sorted(other.processes()) == processes_before
        assert other.is_up()
        assert run_batch(tmp_path, (), "echo other", env=other.environ()) == ("other",)
        assert run_batch(tmp_path, (), "echo session") == ("session",)
    finally:
        discard_cluster(other)
    assert other.processes() == ()


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_stop_ends_running_jobs_and_every_process(tmp_path: Path) -> None:
    """Stopping a cluster with a job running leaves no process of it (slurmstepd included)."""
    cluster = new_cluster()
    try:
        running = cluster.run("sbatch", "--parsable", f"--chdir={tmp_path}", "--wrap=sleep 300")
        assert running.returncode == 0, running.stderr
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while cluster.run("squeue", "-h", "-t", "running", "-o", "%A").stdout.strip() == "":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        assert len(cluster.processes()) > len(daemons(cluster))  # slurmstepd and the job
    finally:
        discard_cluster(cluster)
    assert cluster.processes() == ()
    assert not cluster.folder.exists()


def slurm_sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_start_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    """A folder holding anything but a cluster of slurm.sh is refused in one line."""
    (tmp_path / "notes.txt").write_text("mine\n")
    done = slurm_sh("start", str(tmp_path))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"slurm.sh: {tmp_path} is not empty and holds no cluster written by this script; "
        "give a new or empty folder\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_start_refuses_a_folder_too_long_for_sockets(tmp_path: Path) -> None:
    folder = tmp_path / ("x" * 80)
    done = slurm_sh("start", str(folder))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"slurm.sh: {folder} is too long for the cluster's socket paths "
        f"({len(str(folder))} > 80 characters); choose a shorter folder\n"
    )
    assert not folder.exists()


@pytest.mark.slurm
def test_start_of_a_running_cluster_changes_nothing(slurm_cluster: SlurmCluster) -> None:
    before = (slurm_cluster.conf.read_bytes(), daemons(slurm_cluster))
    done = slurm_sh("start", str(slurm_cluster.folder))
    assert (done.returncode, done.stderr) == (0, "")
    assert (slurm_cluster.conf.read_bytes(), daemons(slurm_cluster)) == before


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_clusters_of_dead_sessions_are_reaped() -> None:
    """A cluster whose session died (its owner is gone) is stopped and removed by the next
    session; the clusters of live sessions are left alone."""
    abandoned = new_cluster()
    (abandoned.folder.parent / OWNER_FILE).write_text(f"{dead_pid()} 0\n")
    pids = abandoned.processes()
    assert pids
    try:
        reaped = reap_abandoned_clusters()
    finally:
        if abandoned.folder.exists():
            discard_cluster(abandoned)
    assert abandoned.folder.parent in reaped
    assert all(map(gone, pids))
    assert not abandoned.folder.parent.exists()
