"""Submitting from a workstation: the real OpenSSH server in front of the real Slurm cluster.

The workstation is a git checkout in one folder; the cluster's ``remote_job_dir`` is another;
between them is a private sshd on loopback (``slurm_login_node``: its own host key, client
config and key) and every test reaches the cluster only through it, with the profile's
``ssh_options = ["-F", <the server's client config>]`` and a home folder of its own (the
control sockets go there, never to the real ``~``). Each test runs ``python -m runspec`` in
a subprocess, as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slurm]

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "tests" / "data" / "slurm" / "recipes"
TIMEOUT = 180


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


class Workstation:
    """A checkout, a home folder and an env.toml whose ``login`` profile goes over ssh."""

    def __init__(self, tmp_path: Path, server: Any, home: Path, extra: str = "") -> None:
        self.tmp, self.server, self.home = tmp_path, server, home
        self.checkout = tmp_path / "checkout"
        self.remote = tmp_path / "cluster" / "run"
        self.write_env(extra)

    def write_env(self, extra: str = "", remote: Path | None = None) -> None:
        lines = [
            "[login]", 'executor = "slurm"', 'partition = "debug"', "gpus_per_node = 0",
            'time = "10:00"', 'tunnel = "ssh"', f"host = {toml_string(self.server.alias)}",
            f"ssh_options = [\"-F\", {toml_string(str(self.server.config))}]",
            f"remote_job_dir = {toml_string(str(remote or self.remote))}", extra,
        ]  # fmt: skip
        (self.tmp / "env.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def env(self) -> dict[str, str]:
        return {
            **os.environ, "PYTHONPATH": str(ROOT), "HOME": str(self.home),
            "RUNSPEC_ENV_FILE": str(self.tmp / "env.toml"),
        }  # fmt: skip

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runspec", *args], cwd=cwd or self.checkout, env=self.env(),
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "runspec", *args], cwd=self.checkout, env=self.env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def records(self) -> list[dict[str, Any]]:
        """The local records of the jobs sent from here, oldest first."""
        found = sorted((self.home / ".runspec" / "jobs").glob("*/*/runspec.json"))
        return [json.loads(path.read_text()) for path in found]

    def record(self, job_id: str) -> dict[str, Any]:
        for record in self.records():
            if record["job_id"] == job_id:
                return record
        raise AssertionError(f"no local record of job {job_id}")

    def folder(self, job_id: str) -> Path:
        """The job's folder on the cluster."""
        return Path(self.record(job_id)["batch_script"]).parent

    def state(self, job_id: str) -> dict[str, Any]:
        done = self.run("status", job_id, "--json")
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows[0]

    def wait_for(self, job_id: str, states: tuple[str, ...]) -> str:
        deadline = time.monotonic() + 90
        while (state := self.state(job_id)["state"]) not in states:
            assert time.monotonic() < deadline, f"job {job_id} is still {state}"
            time.sleep(0.5)
        return state

    def master_pid(self) -> int:
        """The pid of the shared ssh connection runspec left behind."""
        [socket] = [p for p in (self.home / ".runspec" / "ssh").iterdir() if p.is_socket()]
        done = subprocess.run(
            ["ssh", "-F", str(self.server.config), "-o", f"ControlPath={socket}", "-O", "check",
             self.server.alias], capture_output=True, text=True, check=False,
        )  # fmt: skip
        found = re.search(r"pid=([0-9]+)", done.stderr)
        assert found, done.stderr
        return int(found.group(1))

    def close(self) -> None:
        """End the shared connections of this home folder."""
        for socket in (self.home / ".runspec" / "ssh").glob("*"):
            if socket.is_socket():
                subprocess.run(
                    ["ssh", "-F", str(self.server.config), "-o", f"ControlPath={socket}",
                     "-O", "exit", self.server.alias], capture_output=True, check=False,
                )  # fmt: skip


def make_checkout(folder: Path, recipes: tuple[str, ...] = ("echo.py",)) -> Path:
    """A git repository holding the test recipes and their config folder."""
    folder.mkdir(parents=True)
    for name in recipes:
        shutil.copy(RECIPES / name, folder / name)
    shutil.copytree(RECIPES / "config", folder / "config")
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "recipes"]):
        subprocess.run(
            ["git", "-C", str(folder), "-c", "user.email=t@t", "-c", "user.name=t", *command],
            check=True, capture_output=True,
        )  # fmt: skip
    return folder


@pytest.fixture
def station(tmp_path: Path, slurm_login_node: Any) -> Iterator[Workstation]:
    # A short home folder: the control socket's path must fit a Unix socket's 108 bytes.
    home = Path(tempfile.mkdtemp(prefix="rs-home-"))
    station = Workstation(tmp_path, slurm_login_node, home)
    make_checkout(station.checkout, ("echo.py", "ranks.py", "gen.py", "relay.py", "digest.py"))
    try:
        yield station
    finally:
        station.close()
        shutil.rmtree(home, ignore_errors=True)


def job_id_of(stderr: str) -> str:
    found = re.search(r"submitted batch job ([0-9]+)", stderr)
    assert found, stderr
    return found.group(1)


# -- jobs -------------------------------------------------------------------------------


def test_direct_job_on_two_nodes_sends_the_code_once(station: Workstation) -> None:
    done = station.run("run", "echo.py", "-p", "login", "run.env.nodes=2")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["echo ran on node1", "echo ran on node2"]
    job_id = job_id_of(done.stderr)
    folder = station.folder(job_id)
    assert folder.parent.parent == station.remote
    records = [json.loads((folder / f"record-{n}.json").read_text()) for n in (0, 1)]
    code = station.remote / ".runspec" / "code"
    [snapshot] = code.iterdir()
    assert os.readlink(folder / "code") == f"../../.runspec/code/{snapshot.name}"
    assert {r["cwd"] for r in records} == {str(snapshot)}  # started from the checkout's root
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(p.name for p in station.checkout.iterdir() if p.name != ".git")
    remote_record = json.loads((folder / "runspec.json").read_text())
    local = station.record(job_id)
    assert remote_record["job_id"] == local["job_id"] == job_id
    commit = subprocess.run(["git", "-C", str(station.checkout), "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert local["git"] == {"commit": commit, "dirty": False}
    assert local["remote"]["host"] == station.server.alias
    assert local["snapshot"]["id"] == snapshot.name
    # Unchanged code is not sent again; changed code is a new snapshot.
    again = station.run("run", "echo.py", "-p", "login")
    assert again.returncode == 0, again.stderr
    assert [p.name for p in code.iterdir()] == [snapshot.name]
    # Changed code is a new snapshot; what did not change is linked, not sent again. The
    # edit keeps the file's size and second: only its content tells the two apart.
    source = (station.checkout / "echo.py").read_text()
    stamp = (station.checkout / "echo.py").stat()
    (station.checkout / "echo.py").write_text(source.replace("echo ran on", "echo ran at"))
    os.utime(station.checkout / "echo.py", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    edited = station.run("run", "echo.py", "-p", "login")
    assert edited.returncode == 0, edited.stderr
    assert sorted(edited.stdout.splitlines()) == ["echo ran at node1"]
    [new] = [p for p in code.iterdir() if p != snapshot]
    assert (new / "ranks.py").stat().st_ino == (snapshot / "ranks.py").stat().st_ino
    assert (new / "echo.py").stat().st_ino != (snapshot / "echo.py").stat().st_ino
    assert station.record(job_id_of(edited.stderr))["git"]["dirty"] is True


def test_torchrun_two_nodes_two_processes(station: Workstation) -> None:
    done = station.run("run", "ranks.py", "-p", "login", "run.env.nodes=2", "run.env.gpus_per_node=2")
    assert done.returncode == 0, done.stderr
    folder = station.folder(job_id_of(done.stderr))
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("rank-*.json"))]
    assert sorted(int(record["RANK"]) for record in records) == [0, 1, 2, 3]
    assert {record["rank_sum"] for record in records} == {6}
    by_node = sorted((record["SLURMD_NODENAME"], record["LOCAL_RANK"]) for record in records)
    assert by_node == [("node1", "0"), ("node1", "1"), ("node2", "0"), ("node2", "1")]


def _chain(size: int, seed: bytes) -> bytes:
    import importlib.util

    loaded = importlib.util.spec_from_file_location("gen_recipe", RECIPES / "gen.py")
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    data: bytes = module.chain(size, seed)
    return data


def test_streaming_pipeline(station: Workstation) -> None:
    done = station.run(
        "pipe", "-p", "login", "--prefix", "gen.py", "--", "2000000", "seed", "+", "relay.py",
        "+", "digest.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = hashlib.sha256(_chain(2_000_000, b"seed")).hexdigest()
    assert done.stdout == f"2000000 {expected}\n"
    folder = station.folder(job_id_of(done.stderr))
    assert "mkfifo" in (folder / "sbatch.sh").read_text()
    assert (folder / "code").is_symlink()


def test_dependency_chain(station: Workstation) -> None:
    failing = station.run("submit", "echo.py", "-p", "login", "exit_code=3", "sleep=1")
    assert failing.returncode == 0, failing.stderr
    first = failing.stdout.strip()
    never = station.run("submit", "echo.py", "-p", "login", "--after", first)
    anyway = station.run(
        "submit", "echo.py", "-p", "login", "--after", first, "--dependency-type", "afterany",
        "--wait",
    )  # fmt: skip
    assert anyway.returncode == 0, anyway.stderr
    assert "echo ran on node1" in anyway.stdout
    assert station.state(first)["exit_code"] == 3
    assert station.wait_for(never.stdout.strip(), ("CANCELLED",)) == "CANCELLED"


def test_cancel_and_logs_find_the_host_from_the_record(station: Workstation, tmp_path: Path) -> None:
    done = station.run("run", "echo.py", "-b", "login", "sleep=300")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    station.wait_for(job_id, ("RUNNING",))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    deadline = time.monotonic() + 60
    while "echo ran" not in (logs := station.run("logs", job_id, cwd=elsewhere)).stdout:
        assert time.monotonic() < deadline, logs.stderr
        time.sleep(0.5)
    assert logs.stdout == "echo ran on node1\n"
    cancelled = station.run("cancel", job_id, cwd=elsewhere)
    assert (cancelled.returncode, cancelled.stderr) == (0, f"runspec: cancelled job {job_id}\n")
    assert station.wait_for(job_id, ("CANCELLED",)) == "CANCELLED"


def test_ctrl_c_cancels_an_attached_run(station: Workstation) -> None:
    process = station.start("run", "echo.py", "-p", "login", "sleep=300")
    assert process.stdout is not None
    assert process.stdout.readline() == "echo ran on node1\n"  # streamed while the job runs
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=TIMEOUT)
    job_id = job_id_of(err)
    assert process.returncode == 130
    assert err.splitlines()[-1] == f"runspec: cancelled job {job_id}"
    assert station.wait_for(job_id, ("CANCELLED", "COMPLETED", "FAILED")) == "CANCELLED"


TICKS = """\
# /// script
# [tool.runspec]
# name = "ticks"
# [tool.runspec.config]
# format = "json"
# ///
import sys, time
for n in range(int(sys.argv[-1])):
    print(f"tick {n}", flush=True)
    print(f"tock {n}", file=sys.stderr, flush=True)
    time.sleep(0.5)
"""


def test_a_killed_connection_is_replaced_and_no_output_is_lost(station: Workstation) -> None:
    (station.checkout / "ticks.py").write_text(TICKS)
    process = station.start("run", "ticks.py", "-p", "login", "--", "20")
    assert process.stdout is not None
    assert process.stdout.readline() == "tick 0\n"
    os.kill(station.master_pid(), signal.SIGKILL)  # the server stays up: runspec reconnects
    # communicate() reads the pipe itself and would miss lines readline() buffered already
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    try:
        out, err = process.stdout.read(), process.communicate(timeout=TIMEOUT)[1]
    finally:
        watchdog.cancel()
    assert process.returncode == 0, err
    assert "tick 0\n" + out == "".join(f"tick {n}\n" for n in range(20))
    tocks = [line for line in err.splitlines() if line.startswith("tock")]
    assert tocks == [f"tock {n}" for n in range(20)]


def test_lost_connection_says_how_to_reattach_and_the_job_keeps_running(station: Workstation) -> None:
    process = station.start("run", "echo.py", "-p", "login", "sleep=15", "exit_code=5")
    assert process.stdout is not None
    assert process.stdout.readline() == "echo ran on node1\n"
    with station.server.down():  # every connection ends, and no new one is let in
        _, err = process.communicate(timeout=TIMEOUT)
    job_id = job_id_of(err)
    assert process.returncode == 1
    assert re.fullmatch(
        rf"runspec: error: lost the connection to {station.server.alias} while following job "
        rf"{job_id} \(.*\); the job keeps running: reattach with 'runspec logs {job_id} -f'",
        err.splitlines()[-1],
    ), err
    reattached = station.run("logs", job_id, "-f")
    assert reattached.returncode == 5, reattached.stderr
    assert reattached.stdout == "echo ran on node1\n"
    assert reattached.stderr.splitlines()[-1] == f"runspec: job {job_id} failed with exit code 5"


PINNED = """\
# /// script
# [tool.runspec]
# name = "pinned"
# image = "ubuntu:24.04"
# [tool.runspec.config]
# format = "json"
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
print("pinned")
"""


def test_pinned_sources_are_checked_out_on_the_cluster(
    station: Workstation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = make_checkout(tmp_path / "origin" / "Megatron-LM", ("echo.py",))
    commit = subprocess.run(["git", "-C", str(origin), "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    recipe = station.checkout / "pinned" / "train.py"
    (recipe.parent / "config").mkdir(parents=True)
    recipe.write_text(PINNED)
    pin = f"${{auto_mount:git+file://{origin}@{commit},/opt/megatron-lm}}"
    (recipe.parent / "config" / "default.json").write_text(json.dumps({"run": {"env": {"mounts": [pin]}}}))
    cache = tmp_path / "cluster" / "git cache"
    station.write_env(f"\n[cache]\ngit_dir = {toml_string(str(cache))}")
    # This machine's git may list files but never clone: the checkout is the cluster's job.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "git").write_text(
        f'#!/bin/sh\ncase " $* " in *" clone "*) echo "cloned here" >&2; exit 99 ;; esac\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    planned = station.run("run", str(recipe), "-p", "login", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert planned.stderr == (
        f"runspec: warning: run.env.mounts.0: file://{origin}@{commit} is checked out on"
        f" {station.server.alias} in {cache} when the job is submitted\n"
    )
    assert f"{cache}/Megatron-LM-" in planned.stdout and "runspec-pins" in planned.stdout
    assert not cache.exists()
    done = station.run("submit", str(recipe), "-p", "login")
    assert done.returncode == 0, done.stderr
    [checkout] = cache.glob(f"Megatron-LM-*/{commit}")
    assert sorted(p.name for p in checkout.iterdir()) == [".git", "config", "echo.py"]
    folder = station.folder(done.stdout.strip())
    assert f"--container-mounts={checkout}:/opt/megatron-lm:ro," in (folder / "sbatch.sh").read_text()
    saved = json.loads((folder / "config.json").read_text())
    assert saved["run"]["env"]["mounts"][0] == f"{checkout}:/opt/megatron-lm:ro"
    assert not (station.home / ".cache").exists()


def accepted_logins(station: Workstation) -> int:
    """How many times the server let a client log in so far (each a new handshake)."""
    return station.server.log.read_text(errors="replace").count("Accepted publickey for ")


def test_one_connection_serves_every_command_of_a_run_and_the_next(station: Workstation) -> None:
    before = accepted_logins(station)
    done = station.run("run", "echo.py", "-p", "login", "sleep=3", "exit_code=3")
    # The submission, every poll of the state, the output followed and the record: one login.
    assert done.returncode == 3, done.stderr
    job_id = job_id_of(done.stderr)
    assert done.stderr.splitlines()[-1] == f"runspec: job {job_id} failed with exit code 3"
    assert accepted_logins(station) - before == 1
    assert station.run("logs", job_id).stdout == "echo ran on node1\n"
    station.state(job_id)
    assert accepted_logins(station) - before == 1  # later runspec processes share it too


def test_code_outside_git_goes_as_a_tar_stream_without_rsync(station: Workstation, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "config").mkdir(parents=True)
    shutil.copy(RECIPES / "echo.py", plain / "echo.py")
    shutil.copy(RECIPES / "config" / "default.json", plain / "config" / "default.json")
    (plain / "data.txt").write_text("kept\n")
    # This machine's PATH without rsync (and without git: the folder is the snapshot).
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    for program in ("ssh", "sh", "bash"):
        (bare / program).symlink_to(str(shutil.which(program)))
    env = {**station.env(), "PATH": str(bare)}
    done = subprocess.run(
        [sys.executable, "-m", "runspec", "run", "echo.py", "-p", "login"], cwd=plain, env=env,
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "echo ran on node1\n"
    folder = station.folder(job_id_of(done.stderr))
    snapshot = (folder / "code").resolve()
    assert sorted(p.name for p in snapshot.iterdir()) == ["config", "data.txt", "echo.py"]
    assert (snapshot / "data.txt").read_text() == "kept\n"
    record = station.record(job_id_of(done.stderr))
    assert record["git"] is None and record["snapshot"]["files"] == 3


def test_a_pipeline_prefixes_each_steps_stderr_as_locally(station: Workstation) -> None:
    shutil.copytree(ROOT / "examples" / "pipe", station.checkout / "pipe")
    steps = ["pipe/generate.py", "-c", "small", "+", "pipe/count.py"]
    local = station.run("pipe", "--prefix", *steps)
    assert local.returncode == 0, local.stderr
    done = station.run("pipe", "-p", "login", "--prefix", *steps)
    assert done.returncode == 0, done.stderr
    assert done.stdout == local.stdout
    job_lines = [line for line in done.stderr.splitlines(keepends=True) if not line.startswith("runspec: ")]
    assert "".join(job_lines) == local.stderr == "[examples-pipe-generate] generated 10 records\n"


# -- quoting ------------------------------------------------------------------------------

HOSTILE = (
    "sp ace 'q' \"dq\" $(touch {canary}) `touch {canary}` ; touch {canary} | & * ? [a] ~ "
    "$HOME ${{HOME}} ü ✓ \\ %x -n --"
)


def test_hostile_values_reach_the_cluster_byte_for_byte(station: Workstation, tmp_path: Path) -> None:
    # The checkout, the cluster's folder, the recipe's name, its arguments, an environment
    # value and an override all hold the corpus; its canary must never be created anywhere.
    canary = f"pwned-{os.getpid()}"
    # In folder names: no ${...} (an interpolation runspec refuses to guess in a value it
    # builds the job from), no backslash (Slurm cannot write --output files there).
    name = HOSTILE.format(canary=canary).replace("${HOME} ", "").replace("\\ ", "")
    hostile = HOSTILE.format(canary=tmp_path / canary)
    checkout = make_checkout(tmp_path / f"-co {name}")
    recipe = checkout / "echo.py"
    source = recipe.read_text().replace('"slurm-tests/echo"', toml_string(f"evil {name}"))
    recipe.write_text(source)
    (checkout / "config" / "default.json").write_text('{"exit_code": 0, "sleep": 0, "note": ""}')
    remote = tmp_path / "cluster" / f"-r {name}"
    value = f"{hostile}\nline two"  # a batch script refuses newlines elsewhere, not in values
    station.write_env(f"env_vars = {{ HOSTILE_ENV = {toml_string(value)} }}", remote=remote)
    args = [hostile, "*", "$HOME", "a\tb", "", "-x"]
    done = station.run(
        "submit", str(recipe), "-p", "login", f"note={hostile}", "--wait", "--", *args, cwd=checkout
    )
    assert done.returncode == 0, done.stderr
    folder = station.folder(done.stdout.splitlines()[0])
    assert folder.parent.parent == remote
    record = json.loads((folder / "record-0.json").read_text())
    assert record["argv"][2:] == args
    assert record["env"]["HOSTILE_ENV"] == value
    assert record["recipe_name"] == f"evil {name}"
    assert json.loads((folder / "config.json").read_text())["note"] == hostile
    places = [tmp_path, checkout, Path.home(), Path(os.path.expanduser("~root"))]
    assert not [path for place in places for path in place.rglob(f"{canary}*")][:1]


# -- errors -------------------------------------------------------------------------------


def test_unreachable_host_is_one_line(station: Workstation) -> None:
    with station.server.down():
        done = station.run("run", "echo.py", "-b", "login")
    assert done.returncode == 1
    assert re.fullmatch(
        rf"runspec: error: {station.server.alias}: unreachable \(ssh: connect to host "
        rf"{station.server.host} port {station.server.port}: Connection refused\)\n", done.stderr
    ), done.stderr
    assert not (station.home / ".runspec" / "jobs" / "slurm-tests-echo").exists() or not any(
        (station.home / ".runspec" / "jobs" / "slurm-tests-echo").iterdir()
    )


def test_refused_authentication_is_one_line(station: Workstation) -> None:
    station.write_env('user = "nobody-here"')
    done = station.run("run", "echo.py", "-b", "login")
    assert done.returncode == 1
    assert done.stderr == (
        f"runspec: error: {station.server.alias}: authentication refused as nobody-here "
        f"(nobody-here@{station.server.host}: Permission denied (publickey).); check user, "
        "identity and your ssh client configuration\n"
    )


def test_remote_job_dir_that_cannot_be_written_is_one_line(station: Workstation, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    station.write_env(remote=blocker / "run")
    done = station.run("run", "echo.py", "-b", "login")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"runspec: error: run.env.remote_job_dir: remote_job_dir {blocker / 'run'} is not "
        f"writable on {station.server.alias}: mkdir: "
    ), done.stderr
