"""The private test servers themselves: Slurm clusters and sshd.

What the rest of the suite relies on: jobs run where they were asked to and see what they
were given; clusters in different folders run side by side without touching each other;
the sshd lets the test key in, carries rsync and tar streams, and can be taken down and
brought back.
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
from tests.cluster.sshd import SshServer, discard_server, new_server, reap_abandoned_servers

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


# ------------------------------------------------------------------------------ sshd


def home_ssh_state() -> list[tuple[str, float]] | None:
    """What the user's own ssh folder holds (names and mtimes), or None if there is none."""
    folder = Path.home() / ".ssh"
    if not folder.is_dir():
        return None
    return sorted((path.name, path.stat().st_mtime) for path in folder.iterdir())


def test_ssh_runs_commands_as_the_current_user(sshd_server: SshServer) -> None:
    done = sshd_server.ssh("echo hi; id -un")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"hi\n{sshd_server.user}\n", "")
    by_address = subprocess.run(
        ["ssh", "-F", str(sshd_server.config), "-p", str(sshd_server.port), sshd_server.host,
         "echo", "by", "address"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (by_address.returncode, by_address.stdout) == (0, "by address\n"), by_address.stderr


def test_only_the_test_user_and_key_get_in(sshd_server: SshServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    base = ["ssh", "-F", "/dev/null", "-p", str(sshd_server.port), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={sshd_server.known_hosts}",
            "-o", "StrictHostKeyChecking=yes"]  # fmt: skip
    attempts = {
        "stranger key": [*base, "-i", str(stranger), f"{sshd_server.user}@{sshd_server.host}"],
        "other user": [*base, "-i", str(sshd_server.identity), f"nobody@{sshd_server.host}"],
        "test key": [
            *base,
            "-i",
            str(sshd_server.identity),
            f"{sshd_server.user}@{sshd_server.host}",
        ],
    }
    results = {
        name: subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=60).returncode
        for name, argv in attempts.items()
    }
    assert results == {"stranger key": 255, "other user": 255, "test key": 0}


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": bytes(range(256)) * 64,
        "sub/deeper/it's $(odd).txt": "spaces, quotes and unicode: é\n".encode(),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_rsync_round_trip(sshd_server: SshServer, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    shell = f"ssh -F {sshd_server.config}"
    remote = f"{sshd_server.alias}:{tmp_path / 'remote'}/"
    for source, target in ((f"{tmp_path / 'src'}/", remote), (remote, f"{tmp_path / 'back'}/")):
        done = subprocess.run(["rsync", "-a", "-e", shell, source, target],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert read_tree(tmp_path / "remote") == files
    assert read_tree(tmp_path / "back") == files


def test_tar_stream_round_trip(sshd_server: SshServer, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    (tmp_path / "remote").mkdir()
    packed = subprocess.run(["tar", "-C", str(tmp_path / "src"), "-cf", "-", "."],
                            capture_output=True, check=True)  # fmt: skip
    unpack = subprocess.run(
        sshd_server.ssh_argv(f"tar -C '{tmp_path / 'remote'}' -xf -"),
        input=packed.stdout, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert unpack.returncode == 0, unpack.stderr
    back = subprocess.run(sshd_server.ssh_argv(f"tar -C '{tmp_path / 'remote'}' -cf - ."),
                          capture_output=True, timeout=120, check=True)  # fmt: skip
    (tmp_path / "back").mkdir()
    subprocess.run(["tar", "-C", str(tmp_path / "back"), "-xf", "-"], input=back.stdout, check=True)
    assert read_tree(tmp_path / "remote") == files
    assert read_tree(tmp_path / "back") == files


def test_server_goes_down_and_comes_back(sshd_server: SshServer) -> None:
    port = sshd_server.port
    with sshd_server.down():
        assert sshd_server.listener() is None
        refused = sshd_server.ssh("true")
        assert refused.returncode == 255
        assert "Connection refused" in refused.stderr
    assert sshd_server.ssh("echo back").stdout == "back\n"
    assert sshd_server.port == port


def test_dropped_connections_end_and_new_ones_work(sshd_server: SshServer) -> None:
    follower = subprocess.Popen(
        sshd_server.ssh_argv("echo started; exec sleep 300"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "started\n"
        assert sshd_server.drop_connections() == 1
        assert follower.wait(timeout=60) == 255
    finally:
        follower.kill()
        follower.communicate()
    assert sshd_server.ssh("echo again").stdout == "again\n"


def test_ssh_leaves_the_users_own_ssh_folder_alone(tmp_path: Path) -> None:
    before = home_ssh_state()
    server = new_server()
    try:
        assert server.ssh("true").returncode == 0
        assert server.ssh("true").returncode == 0
    finally:
        discard_server(server)
    assert home_ssh_state() == before


@pytest.mark.slurm
def test_login_node_submits_to_the_private_cluster(
    slurm_login_node: SshServer, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    """Remote commands on the login node reach the session's private cluster."""
    done = slurm_login_node.ssh(
        f"sbatch --parsable --wait --chdir='{tmp_path}' --output=%j.out "
        "--wrap='echo $SLURM_CONF on $SLURMD_NODENAME'"
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert (tmp_path / f"{job_id}.out").read_text() == f"{slurm_cluster.conf} on node1\n"
    assert slurm_login_node.ssh("sinfo -h -o %P").stdout == "debug*\n"


def test_servers_of_dead_sessions_are_reaped() -> None:
    abandoned, alive = new_server(), new_server()
    (abandoned.folder / OWNER_FILE).write_text(f"{dead_pid()} 0\n")
    listener = abandoned.listener()
    assert listener is not None
    try:
        reaped = reap_abandoned_servers()
        assert abandoned.folder in reaped
        assert alive.folder not in reaped
        assert alive.ssh("true").returncode == 0
    finally:
        discard_server(alive)
        discard_server(abandoned)
    assert gone(listener)
    assert not abandoned.folder.exists()
