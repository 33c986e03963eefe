"""Slurm jobs seen from the terminal, without a cluster: the waiting line, cancel's answers,
missing Slurm commands, and what a dry run over ssh shows (and that it connects nowhere).

The same behaviour on the real cluster and through a real sshd is in
tests/integration/test_slurm.py and tests/integration/test_remote.py.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runspec.errors import SlurmError
from runspec.slurm import cluster
from runspec.slurm.follow import Progress
from tests.support import Result
from tests.test_slurm_batch import FakeSlurm


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def row(state: str, reason: str = "None", nodes: str = "") -> dict[str, str]:
    return {"state": state, "reason": reason, "nodes": nodes}


def test_waiting_off_a_terminal_is_a_line_per_change() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress("51", stream, terminal=False, clock=clock)
    progress.poll(row("PENDING", "Priority"))
    clock.now += 4
    progress.poll(row("PENDING", "Priority"))  # no change: no line
    progress.poll(row("PENDING", "Resources"))
    clock.now += 61
    progress.poll(row("RUNNING", "None", "node[1-2]"))
    clock.now += 3600
    progress.poll(row("FAILED", "NonZeroExitCode", "node[1-2]"))
    assert stream.getvalue() == (  # the end waits for ended(): it comes after the output
        "runspec: job 51: PENDING (Priority), 0:00 elapsed\n"
        "runspec: job 51: PENDING (Resources), 0:04 elapsed\n"
        "runspec: job 51: RUNNING on node[1-2], 1:05 elapsed\n"
    )
    progress.ended(3)
    assert stream.getvalue().splitlines()[-2:] == [
        "runspec: job 51: FAILED (NonZeroExitCode), 1:01:05 elapsed",
        "runspec: job 51 failed with exit code 3",
    ]


def test_waiting_on_a_terminal_is_one_line_rewritten_until_output_comes() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress("51", stream, terminal=True, clock=clock)
    progress.poll(row("PENDING", "Priority"))
    clock.now += 0.5
    progress.tick()  # the clock shows seconds: nothing to redraw yet
    clock.now += 0.5
    progress.tick()
    progress.settle()  # output follows: the line goes
    progress.poll(row("RUNNING", "None", "node1"))
    progress.poll(row("COMPLETED", "None", "node1"))
    progress.ended(0)
    assert stream.getvalue() == (
        "\r\x1b[Krunspec: job 51: PENDING (Priority), 0:00 elapsed"
        "\r\x1b[Krunspec: job 51: PENDING (Priority), 0:01 elapsed"
        "\r\x1b[K"
        "runspec: job 51: RUNNING on node1, 0:01 elapsed\n"
        "runspec: job 51: COMPLETED, 0:01 elapsed\n"
    )


CANCELS = [
    ("running", "scancel: Terminating job 51\n", {}),
    ("ended", "scancel: Terminating job 51\nscancel: error: Kill job error on job id 51: "
     "Job/step already completing or completed\n",
     {"51": "Job/step already completing or completed"}),
]  # fmt: skip


@pytest.mark.parametrize(("said", "left"), [c[1:] for c in CANCELS], ids=[c[0] for c in CANCELS])
def test_cancel_says_which_jobs_it_did_not_cancel(said: str, left: dict[str, str]) -> None:
    fake = FakeSlurm({"scancel": [(0, "", said)]})
    assert cluster.cancel(["51"], fake) == left


def test_cancel_of_an_unknown_job_is_an_error() -> None:
    said = "scancel: error: Kill job error on job id 99: Invalid job id specified\n"
    with pytest.raises(SlurmError) as caught:
        cluster.cancel(["99"], FakeSlurm({"scancel": [(0, "", said)]}), host="login1")
    assert str(caught.value) == "job 99 is unknown to Slurm on login1: nothing to cancel"


@pytest.fixture
def no_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine without Slurm's commands, and a home of its own."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


MISSING = [
    ("status", ["status", "51"],
     "runspec: error: scontrol, sacct and squeue not found on PATH; Slurm's commands are needed "
     "here (a login node), or a job submitted from here over ssh\n"),
    ("cancel", ["cancel", "51"],
     "runspec: error: scancel not found on PATH; Slurm's commands are needed here (a login "
     "node), or a job submitted from here over ssh\n"),
    ("logs", ["logs", "51"],
     "runspec: error: scontrol, sacct and squeue not found on PATH; Slurm's commands are needed "
     "here (a login node), or a job submitted from here over ssh\n"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), [m[1:] for m in MISSING], ids=[m[0] for m in MISSING])
def test_without_slurm_the_missing_command_is_named(
    cli: Callable[..., Result], no_slurm: Path, argv: list[str], message: str
) -> None:
    done = cli(*argv)
    assert (done.code, done.out, done.err) == (1, "", message)


# -- a dry run over ssh ---------------------------------------------------------------

ENV = """\
[remote]
executor = "slurm"
tunnel = "ssh"
host = "login.example.com"
user = "me"
ssh_options = ["-F", "/no/such/config"]
remote_job_dir = "/lustre/me/run"
partition = "batch"
gpus_per_node = 0

[broken]
executor = "slurm"
tunnel = "ssh"
host = "login.example.com"
"""


@pytest.fixture
def remote_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A remote profile, a home of its own, and an ``ssh`` on PATH that notes any call."""
    (tmp_path / "env.toml").write_text(ENV)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "ssh").write_text(f'#!/bin/sh\necho called >>{tmp_path}/ssh-called\nexit 255\n')
    (bin_folder / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNSPEC_ENV_FILE", str(tmp_path / "env.toml"))
    return tmp_path


def test_dry_run_over_ssh_shows_the_commands_and_connects_nowhere(
    cli: Callable[..., Result], repo: Path, remote_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    recipe = repo / "tests" / "data" / "slurm" / "recipes" / "echo.py"
    done = cli("run", recipe, "-p", "remote", "--dry-run")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0] == (
        "# login.example.com: the commands share one ssh connection (ControlMaster=auto, kept "
        "600 s after its last use)"
    )
    socket = next(Path(word.split("=", 1)[1]) for word in lines[2].split() if word.startswith("ControlPath="))
    assert socket.parent == remote_env / "home" / ".runspec" / "ssh"
    assert lines[2].startswith("ssh -o ControlPath=")
    assert " -F /no/such/config " in lines[2] and " -- me@login.example.com 'sh -c " in lines[2]
    rsync = next(line for line in lines if line.startswith("rsync "))
    assert "--secluded-args" in rsync and " me@login.example.com:/lustre/me/run/.runspec/code/." in rsync
    assert "#SBATCH --partition=batch" in lines
    code = next(line for line in lines if line.startswith("srun "))
    assert " python3 /lustre/me/run/.runspec/code/" in code  # the snapshot, the cluster's python
    assert not (remote_env / "ssh-called").exists()
    assert not (remote_env / "home").exists()  # nothing written either
    assert not any("WANDB_API_KEY" in line for line in lines)


def test_dry_run_over_ssh_says_the_wandb_key_is_sent(
    cli: Callable[..., Result], repo: Path, remote_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k-123")
    recipe = repo / "tests" / "data" / "slurm" / "recipes" / "echo.py"
    done = cli("run", recipe, "-p", "remote", "--dry-run")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[2] == (
        "# WANDB_API_KEY (set here) goes first on that stdin, exported for sbatch only, "
        "written nowhere"
    )
    assert lines[3].startswith("ssh -o ControlPath=")
    assert "k-123" not in done.out + done.err


def test_a_remote_profile_without_remote_job_dir_is_one_line(
    cli: Callable[..., Result], repo: Path, remote_env: Path
) -> None:
    recipe = repo / "tests" / "data" / "slurm" / "recipes" / "echo.py"
    done = cli("run", recipe, "-p", "broken", "--dry-run")
    assert (done.code, done.err) == (1, (
        "runspec: error: run.env.remote_job_dir: required with tunnel = 'ssh': the folder on "
        "login.example.com that holds the job folders\n"
    ))  # fmt: skip
    assert not (remote_env / "ssh-called").exists()


PINNED_RECIPE = """\
# /// script
# [tool.runspec]
# name = "pinned"
# image = "img:1"
# [tool.runspec.config]
# format = "json"
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""


def test_dry_run_over_ssh_shows_the_pin_checkout_command(
    cli: Callable[..., Result], remote_env: Path
) -> None:
    recipe = remote_env / "recipe" / "train.py"
    (recipe.parent / "config").mkdir(parents=True)
    recipe.write_text(PINNED_RECIPE)
    pin = "${auto_mount:git+https://example.com/Megatron-LM.git@main,/opt/m}"
    (recipe.parent / "config" / "default.json").write_text(json.dumps({"run": {"env": {"mounts": [pin]}}}))
    done = cli("run", recipe, "-p", "remote", "--dry-run")
    assert done.code == 0, done.err
    header = (
        "# login.example.com: the pinned sources are checked out there first, in"
        " /lustre/me/run/.runspec/git:\n"
    )
    before, _, after = done.out.partition(header)
    assert after, done.out
    command, _, rest = after.partition("# the job folder, sent as a tar stream on stdin")
    assert before.startswith("# login.example.com: the commands share one ssh connection")
    assert command.startswith("ssh -o ControlPath=") and rest
    assert "runspec-pins /lustre/me/run/.runspec/git Megatron-LM-" in command
    assert command.endswith(" https://example.com/Megatron-LM.git main'\n")
    assert not (remote_env / "ssh-called").exists()


def test_pipe_dry_run_over_ssh_says_a_shared_pin_once(cli: Callable[..., Result], remote_env: Path) -> None:
    recipe = remote_env / "recipe" / "train.py"
    (recipe.parent / "config").mkdir(parents=True)
    recipe.write_text(PINNED_RECIPE)
    pin = "${auto_mount:git+https://example.com/M.git@main,/opt/m}"
    (recipe.parent / "config" / "default.json").write_text(json.dumps({"run": {"env": {"mounts": [pin]}}}))
    done = cli("pipe", "-p", "remote", "--dry-run", recipe, "+", recipe)
    assert done.code == 0, done.err
    assert done.err == (
        "runspec: warning: run.env.mounts.0: https://example.com/M.git@main is checked out on"
        " login.example.com in /lustre/me/run/.runspec/git when the job is submitted\n"
    )
    assert done.out.count("the pinned sources are checked out there first") == 1
    assert done.out.count("--container-mounts=/lustre/me/run/.runspec/git/M-") == 2
    assert not (remote_env / "ssh-called").exists()
