"""Logs of local runs: copies of stdout and stderr in the job folder, `runspec logs`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runspec.run.pipeline import Step, run_pipeline
from tests.support import REPO, cli_env

DATA = REPO / "tests" / "data" / "logs"
TALK_ERR = "e-one\ne-two\ntty=False unbuffered=None\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the talking recipe, and a private home."""
    shutil.copytree(DATA, tmp_path / "recipes")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "home").mkdir()
    return tmp_path


def _run(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args], cwd=project, env=_env(project),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _env(project: Path) -> dict[str, str]:
    env = cli_env(HOME=str(project / "home"))
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _folders(project: Path) -> list[Path]:
    root = project / ".runspec" / "jobs"
    return sorted(path for path in root.iterdir() if path.is_dir())


def _wait_for(condition, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_local_run_keeps_its_output_in_the_job_folder(project: Path) -> None:
    done = _run(project, "run", "recipes/talk.py", "exit=3")
    assert done.returncode == 3
    assert done.stdout == "one\ntwo\nthree\n"
    assert done.stderr == TALK_ERR + "runspec: tests-talk failed with exit code 3\n"
    [folder] = _folders(project)
    assert (folder / "stdout.log").read_text() == "one\ntwo\nthree\n"
    assert (folder / "stderr.log").read_text() == TALK_ERR
    for name in ("stdout.log", "stderr.log"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    record = json.loads((folder / "runspec.json").read_text())
    assert record["output"] == {
        "stdout": str(folder / "stdout.log"), "stderr": str(folder / "stderr.log"),
    }  # fmt: skip
    assert record["exit_code"] == 3
    assert record["recipe"] == "tests/talk"
    assert isinstance(record["duration"], float)
    assert record["ended"] >= record["submitted"]


def test_the_state_folder_is_ignored_by_git(project: Path) -> None:
    assert _run(project, "run", "recipes/talk.py").returncode == 0
    assert (project / ".runspec" / ".gitignore").read_text() == "*\n"


def test_logs_are_written_as_the_output_streams(project: Path) -> None:
    gate = project / "gate"
    process = subprocess.Popen(
        [sys.executable, "-m", "runspec", "run", "recipes/talk.py", f"gate={json.dumps(str(gate))}"],
        cwd=project, env=_env(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for(lambda: project.joinpath(".runspec", "jobs").is_dir() and _folders(project),
                  "the job folder")  # fmt: skip
        [folder] = _folders(project)
        _wait_for(lambda: (folder / "stderr.log").exists()
                  and (folder / "stderr.log").read_text() == "e-one\n", "the first stderr line")
        assert (folder / "stdout.log").read_text() == "one\n"  # while the job still runs
        gate.write_text("")
        out, _ = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    assert out == b"one\ntwo\nthree\n"
    assert process.returncode == 0


def test_runspec_logs_prints_a_local_job(project: Path) -> None:
    assert _run(project, "run", "recipes/talk.py").returncode == 0
    [folder] = _folders(project)
    for word in (folder.name, str(folder), None):
        done = _run(project, "logs", *([word] if word else []))
        assert (done.returncode, done.stdout, done.stderr) == (0, "one\ntwo\nthree\n", TALK_ERR)


def test_runspec_logs_follows_a_running_job_to_its_exit_code(project: Path) -> None:
    gate = project / "gate"
    started = subprocess.Popen(
        [sys.executable, "-m", "runspec", "run", "recipes/talk.py",
         f"gate={json.dumps(str(gate))}", "exit=4"],
        cwd=project, env=_env(project), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(lambda: project.joinpath(".runspec", "jobs").is_dir() and _folders(project)
                  and (_folders(project)[0] / "runspec.json").exists(), "the job record")
        [folder] = _folders(project)
        follower = subprocess.Popen(
            [sys.executable, "-m", "runspec", "logs", "-f", folder.name],
            cwd=project, env=_env(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        _wait_for(lambda: (folder / "stdout.log").exists(), "the log")
        gate.write_text("")
        out, err = follower.communicate(timeout=120)
    finally:
        started.kill()
        started.wait()
    assert follower.returncode == 4
    assert out == "one\ntwo\nthree\n"
    assert err == TALK_ERR


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("20250101-120000-nothing", "no job '20250101-120000-nothing': give a Slurm job id, "
         "or a local job's id or folder ('runspec jobs')"),
        ("no-such", "no job 'no-such': give a Slurm job id, or a local job's id or folder "
         "('runspec jobs')"),
    ],
    ids=["unknown-id", "not-an-id"],
)  # fmt: skip
def test_runspec_logs_of_an_unknown_local_job(project: Path, word: str, message: str) -> None:
    done = _run(project, "logs", word)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"runspec: error: {message}\n"


def test_runspec_logs_without_any_job(project: Path) -> None:
    done = _run(project, "logs")
    assert done.returncode == 1
    assert done.stderr == (
        "runspec: error: no jobs yet: give a Slurm job id, or run a recipe first\n"
    )


def test_a_pipe_logs_each_steps_stderr_and_the_last_steps_stdout(project: Path) -> None:
    done = _run(
        project, "pipe", "--prefix", "recipes/talk.py", "out=[\"a\"]", "err=[\"x\"]",
        "+", "recipes/talk.py", "out=[\"b\"]", "err=[\"y\"]",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "b\n"
    first, last = _folders(project)
    assert not (first / "stdout.log").exists()  # its stdout fed the next step
    assert (first / "stderr.log").read_text() == "x\ntty=False unbuffered=None\n"
    assert (last / "stdout.log").read_text() == "b\n"
    assert (last / "stderr.log").read_text() == "y\ntty=False unbuffered=None\n"
    assert "[tests-talk] y\n" in done.stderr  # prefixed on the terminal, not in the log


# the engine --------------------------------------------------------------------------------


def test_a_logged_stdout_whose_reader_goes_away_closes_as_without_runspec(tmp_path: Path) -> None:
    step = Step.create("yes", ["yes", "runspec"], log_dir=tmp_path)
    reader, writer = os.pipe()
    try:
        with os.fdopen(reader, "rb") as stream:
            os.set_blocking(reader, True)

            def read_then_close() -> None:
                stream.read(1 << 16)
                stream.close()

            import threading

            thread = threading.Thread(target=read_then_close)
            thread.start()
            result = run_pipeline([step], stdout=writer)
            thread.join()
    finally:
        os.close(writer)
    assert result.steps[0].returncode == -13  # SIGPIPE, as `yes | head` would end
    assert (tmp_path / "stdout.log").stat().st_size >= 1 << 16


def test_a_step_writing_to_a_terminal_through_a_log_gets_unbuffered_python(
    tmp_path: Path,
) -> None:
    import pty

    leader, follower = pty.openpty()
    code = "import os, sys; print(os.environ.get('PYTHONUNBUFFERED'), sys.stdout.isatty())"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    step = Step.create("py", [sys.executable, "-c", code], env, log_dir=tmp_path)
    try:
        result = run_pipeline([step], stdout=follower)
        seen = os.read(leader, 1024)
    finally:
        os.close(leader)
        os.close(follower)
    assert result.exit_code == 0
    assert seen.replace(b"\r\n", b"\n") == b"1 False\n"
    assert (tmp_path / "stdout.log").read_bytes() == b"1 False\n"


def test_big_output_arrives_whole_on_both_sides(tmp_path: Path) -> None:
    size = 64 << 20
    out = tmp_path / "out"
    with out.open("wb") as sink:
        result = run_pipeline(
            [Step.create("head", ["head", "-c", str(size), "/dev/urandom"], log_dir=tmp_path)],
            stdout=sink,
        )
    assert result.exit_code == 0
    assert out.stat().st_size == size
    assert (tmp_path / "stdout.log").read_bytes() == out.read_bytes()
