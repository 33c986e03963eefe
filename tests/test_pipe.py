"""`runspec pipe` through the real CLI: steps are recipes joined by OS pipes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO

PIPE = REPO / "examples" / "pipe"
RUN = REPO / "tests" / "data" / "run"


def _expected_digest(records: int, text: str) -> str:
    data = "".join(f"record {n:08d} {text}\n".upper() for n in range(records)).encode()
    return f"{records} lines, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}\n"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    shutil.copytree(RUN, tmp_path / "run")
    return tmp_path


def test_three_steps_stream_end_to_end(runspec, work):
    done = runspec(
        "pipe", str(PIPE / "generate.py"), "records=20000", "+", str(PIPE / "upper.py"),
        "+", str(PIPE / "count.py"), cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == _expected_digest(20000, "streamed through runspec pipe")
    assert done.stderr == "generated 20000 records\n"
    assert len(list((work / ".runspec" / "jobs").iterdir())) == 3


def test_config_and_overrides_per_step(runspec, work):
    done = runspec(
        "pipe", str(PIPE / "generate.py"), "-c", "small", "text=x y", "+",
        str(PIPE / "upper.py"), "+", str(PIPE / "count.py"), cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == _expected_digest(10, "x y")


def test_prefix_names_each_stderr_line(runspec, work):
    done = runspec(
        "pipe", "--prefix", str(PIPE / "generate.py"), "-c", "small", "+", str(PIPE / "count.py"),
        cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[examples-pipe-generate] generated 10 records\n"


def test_failing_middle_step_is_named_and_its_code_returned(runspec, work):
    done = runspec(
        "pipe", str(PIPE / "generate.py"), "+", str(work / "run" / "probe.py"), "exit_code=4",
        "+", str(PIPE / "count.py"), cwd=work,
    )  # fmt: skip
    assert done.returncode == 4
    assert done.stderr.endswith("runspec: step 2 (tests-probe) failed with exit code 4\n")


def test_each_step_record_holds_its_exit_code(runspec, work):
    ok = runspec("pipe", str(PIPE / "generate.py"), "-c", "small", "+", str(PIPE / "count.py"),
                 cwd=work)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert {record["recipe"]: record["exit_code"] for record in _records(work)} == {
        "examples/pipe/generate": 0, "examples/pipe/count": 0,
    }  # fmt: skip
    shutil.rmtree(work / ".runspec")
    failed = runspec(
        "pipe", str(PIPE / "generate.py"), "+", str(work / "run" / "probe.py"), "exit_code=4",
        "+", str(PIPE / "count.py"), cwd=work,
    )  # fmt: skip
    assert failed.returncode == 4
    codes = {record["recipe"]: record["exit_code"] for record in _records(work)}
    assert codes["tests/probe"] == 4
    # the others end by themselves or are stopped once step 2 failed: either way, a code
    assert all(isinstance(code, int) for code in codes.values()) and len(codes) == 3


def test_early_exit_downstream_is_not_a_failure(runspec, work):
    done = runspec(
        "pipe", str(PIPE / "generate.py"), "records=1000000", "+", str(PIPE / "upper.py"),
        "+", str(work / "run" / "head.py"), cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "RECORD "


def test_step_arguments_after_double_dash(runspec, work):
    done = runspec(
        "pipe", str(PIPE / "generate.py"), "-c", "small", "+", str(work / "run" / "probe.py"),
        "--", "a b", "+", str(PIPE / "count.py"), cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 lines, ")


def test_dry_run_prints_the_shell_pipeline_and_writes_nothing(runspec, work):
    done = runspec(
        "pipe", "--dry-run", str(PIPE / "generate.py"), "+", str(PIPE / "count.py"), cwd=work
    )
    assert done.returncode == 0, done.stderr
    command = done.stdout.split("# command\n")[1]
    assert command.count(" | ") == 1
    assert f"{PIPE / 'generate.py'} --config " in command
    assert not (work / ".runspec").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "runspec: error: pipe: give at least one step (SCRIPT [-c CONFIG] [OVERRIDE...])\n"),
        (["+", "x.py"], "runspec: error: pipe: step 1 must start with a script (got [])\n"),
        (["a.py", "-c"], "runspec: error: pipe: step 1: -c needs a config name or path\n"),
        (["missing.py"], "runspec: error: missing.py: no such file\n"),
    ],
    ids=["no-steps", "empty-step", "config-without-value", "missing-script"],
)
def test_pipe_refusals(runspec, work, args, message):
    done = runspec("pipe", *args, cwd=work)
    assert (done.returncode, done.stderr) == (1, message)
    assert not (work / ".runspec").exists()


def test_a_step_that_fails_to_assemble_leaves_no_job_folders(runspec, work):
    done = runspec(
        "pipe", str(PIPE / "generate.py"), "+", str(PIPE / "upper.py"), "nosuch=1", cwd=work
    )
    assert done.returncode == 1
    assert done.stderr == "runspec: error: nosuch: no such key to set (use +nosuch=... to add it)\n"
    assert not list((work / ".runspec" / "jobs").iterdir())


# --- the record's git state: one git process per folder ---------------------------------

GIT_LOGGER = """#!/bin/sh
echo "$*" >> "{log}"
exec {git} "$@"
"""


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def repository(work: Path) -> Path:
    """``work`` as a git repository with the run recipes committed."""
    _git(work, "init", "-q")
    _git(work, "add", "run", "pyproject.toml")
    _git(work, "commit", "-q", "-m", "recipes")
    return work


def _records(work: Path) -> list[dict]:
    folders = sorted((work / ".runspec" / "jobs").iterdir())
    return [json.loads((folder / "runspec.json").read_text()) for folder in folders]


def _pipe_heads(runspec, work: Path, env: dict[str, str] | None = None):
    head = str(work / "run" / "head.py")
    return runspec("pipe", head, "+", head, "+", head, cwd=work, env=env or {})


def test_records_hold_the_commit_and_whether_tracked_files_changed(runspec, repository):
    commit = _git(repository, "rev-parse", "HEAD")
    (repository / "notes.txt").write_text("untracked files do not make the tree dirty\n")
    assert _pipe_heads(runspec, repository).returncode == 0
    assert [record["git"] for record in _records(repository)] == [
        {"commit": commit, "dirty": False}
    ] * 3
    (repository / "run" / "head.py").write_text(
        (repository / "run" / "head.py").read_text() + "\n# edited\n"
    )
    shutil.rmtree(repository / ".runspec")
    assert _pipe_heads(runspec, repository).returncode == 0
    assert {json.dumps(record["git"]) for record in _records(repository)} == {
        json.dumps({"commit": commit, "dirty": True})
    }


def test_records_outside_a_repository_have_no_git_state(runspec, work):
    assert _pipe_heads(runspec, work).returncode == 0
    assert [record["git"] for record in _records(work)] == [None] * 3


def test_git_runs_once_per_folder_not_per_step(runspec, repository, tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "git.log"
    bin_dir.mkdir()
    logger = bin_dir / "git"
    logger.write_text(GIT_LOGGER.format(log=log, git=shutil.which("git")))
    logger.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    other = repository / "other"
    shutil.copytree(repository / "run", other)
    head, elsewhere = str(repository / "run" / "head.py"), str(other / "head.py")
    done = runspec("pipe", head, "+", head, "+", elsewhere, cwd=repository, env={"PATH": path})
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert sorted(calls) == sorted(
        f"-C {folder} status --porcelain=v2 --branch --untracked-files=no"
        for folder in (repository / "run", other)
    )
