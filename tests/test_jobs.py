"""`runspec jobs`: recent local and Slurm jobs from their records.

Slurm's answers here come from stand-in ``squeue``/``sacct`` programs on PATH that
record how they were called (the real cluster is tests/integration/test_toolkit_slurm.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runspec.cli.display import PLAIN, Style, duration_text, render_jobs, style_for
from runspec.slurm.states import parse_clock, states
from tests.support import REPO, cli_env

DATA = REPO / "tests" / "data" / "logs"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(DATA, tmp_path / "recipes")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "home").mkdir()
    (tmp_path / "bin").mkdir()
    return tmp_path


def _env(project: Path) -> dict[str, str]:
    env = cli_env(HOME=str(project / "home"))
    env["PATH"] = f"{project / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("NO_COLOR", None)
    return env


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args], cwd=project, env=_env(project),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _jobs(project: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    done = _run(project, "jobs", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _record(folder: Path, **data: object) -> Path:
    folder.mkdir(parents=True)
    (folder / "runspec.json").write_text(json.dumps(data))
    return folder


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_local_runs_newest_first(project: Path) -> None:
    assert _run(project, "run", "recipes/talk.py").returncode == 0
    time.sleep(1.1)  # the next job folder gets a later time stamp
    assert _run(project, "run", "recipes/talk.py", "exit=3").returncode == 3
    failed, done = _jobs(project)
    folders = sorted((project / ".runspec" / "jobs").iterdir())
    assert [failed["id"], done["id"]] == [folders[1].name, folders[0].name]
    assert {k: failed[k] for k in ("recipe", "profile", "where", "state", "exit_code")} == {
        "recipe": "tests/talk", "profile": None, "where": "local", "state": "FAILED",
        "exit_code": 3,
    }  # fmt: skip
    assert (done["state"], done["exit_code"], done["folder"]) == ("COMPLETED", 0, str(folders[0]))
    assert list(done) == [
        "id", "recipe", "profile", "where", "state", "exit_code", "start", "duration", "folder",
    ]  # fmt: skip
    assert isinstance(done["duration"], float)
    assert done["start"] <= failed["start"]
    assert [job["id"] for job in _jobs(project, "-n", "1")] == [failed["id"]]


def test_the_table(project: Path) -> None:
    assert _run(project, "run", "recipes/talk.py").returncode == 0
    done = _run(project, "jobs")
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == ["ID", "RECIPE", "PROFILE", "WHERE", "STATE", "EXIT", "START",
                              "DURATION"]  # fmt: skip
    assert row.split()[1:6] == ["tests/talk", "-", "local", "COMPLETED", "0"]
    assert "\033[" not in done.stdout  # not a terminal: no colour


def test_no_jobs_yet(project: Path) -> None:
    done = _run(project, "jobs")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "no jobs yet (runspec keeps their records under .runspec/jobs and ~/.runspec/jobs)\n"
    )
    assert _jobs(project) == []


def test_count_must_be_positive(project: Path) -> None:
    done = _run(project, "jobs", "-n", "0")
    assert (done.returncode, done.stderr) == (1, "runspec: error: -n must be at least 1 (got 0)\n")


def test_a_running_job(project: Path) -> None:
    gate = project / "gate"
    process = subprocess.Popen(
        [sys.executable, "-m", "runspec", "run", "recipes/talk.py", f"gate={json.dumps(str(gate))}"],
        cwd=project, env=_env(project), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (project / ".runspec" / "jobs").is_dir() or not any(
            (folder / "stdout.log").exists() for folder in (project / ".runspec" / "jobs").iterdir()
        ):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        [job] = _jobs(project)
        assert (job["state"], job["exit_code"]) == ("RUNNING", None)
    finally:
        gate.write_text("")
        process.wait(timeout=120)
    [job] = _jobs(project)
    assert job["state"] == "COMPLETED"


LOCAL_STATES = [
    ("lost", {"job_id": "DEAD"}, "LOST", None),
    ("error", {"job_id": "1", "error": "cannot run 'x'"}, "ERROR", None),
    ("interrupted", {"job_id": "1", "exit_code": 130}, "CANCELLED", 130),
    ("killed", {"job_id": "1", "exit_code": 137}, "FAILED", 137),
    ("other-machine", {"job_id": "1", "host": "elsewhere.example"}, "UNKNOWN", None),
    # a live process with the record's pid, started after the record: the pid was reused
    ("pid-reused", {"job_id": "SELF", "submitted": "2000-01-01T12:00:00+0000"}, "LOST", None),
    ("alive", {"job_id": "SELF"}, "RUNNING", None),
]


@pytest.mark.parametrize(
    ("fields", "state", "code"), [c[1:] for c in LOCAL_STATES], ids=[c[0] for c in LOCAL_STATES]
)
def test_local_states_from_records(project: Path, fields: dict, state: str, code: int | None) -> None:  # type: ignore[type-arg]
    pid = {"DEAD": str(_dead_pid()), "SELF": str(os.getpid())}
    data = {"submitted": "2030-01-01T12:00:00+0000", **fields}
    data["job_id"] = pid.get(str(fields["job_id"]), fields["job_id"])
    _record(project / ".runspec" / "jobs" / "20300101-120000-x", executor="local", name="x",
            **data)  # fmt: skip
    [job] = _jobs(project)
    assert (job["id"], job["state"], job["exit_code"]) == ("20300101-120000-x", state, code)


# Slurm -------------------------------------------------------------------------------------

SQUEUE = """\
#!/bin/sh
echo "squeue $*" >> "$(dirname "$0")/calls"
echo "11|COMPLETED|0|0:07|2025-01-01T12:00:05|2025-01-01T12:00:12|"
echo "12|RUNNING|0|1:02:03|2025-01-01T12:01:00|NONE|"
"""
SACCT = """\
#!/bin/sh
echo "sacct $*" >> "$(dirname "$0")/calls"
echo "13|FAILED|3:0|00:00:09|2025-01-01T12:02:00|2025-01-01T12:02:09"
"""


def _slurm_records(project: Path) -> None:
    home = project / "home" / ".runspec" / "jobs"
    for job_id, name, stamp in (("11", "a", "20250101-120000"), ("12", "b", "20250101-120100"),
                                ("13", "c", "20250101-120200"), ("14", "d", "20250101-120300")):
        _record(home / name / stamp, executor="slurm", job_id=job_id, recipe=f"r/{name}",
                profile="cluster", submitted=f"{stamp[:4]}-01-01T12:00:00+0000")  # fmt: skip
    for name, program in (("squeue", SQUEUE), ("sacct", SACCT)):
        (project / "bin" / name).write_text(program)
        (project / "bin" / name).chmod(0o755)


def test_slurm_states_in_one_query_and_kept_once_final(project: Path) -> None:
    _slurm_records(project)
    jobs = {job["id"]: job for job in _jobs(project)}
    assert {job_id: (job["state"], job["exit_code"], job["duration"], job["where"])
            for job_id, job in jobs.items()} == {
        "11": ("COMPLETED", 0, 7.0, "slurm"),
        "12": ("RUNNING", None, 3723.0, "slurm"),
        "13": ("FAILED", 3, 9.0, "slurm"),
        "14": ("SUBMITTED", None, None, "slurm"),  # neither knows it
    }  # fmt: skip
    assert jobs["13"]["start"] == "2025-01-01T12:02:00"
    calls = (project / "bin" / "calls").read_text().splitlines()
    assert calls == [
        "squeue -h -t all -j 14,13,12,11 -O "
        "JobID:|,State:|,exit_code:|,TimeUsed:|,StartTime:|,EndTime:|",
        "sacct -X -n -P -j 14,13 -o JobID,State,ExitCode,Elapsed,Start,End",
    ]
    (project / "bin" / "calls").unlink()
    again = {job["id"]: job["state"] for job in _jobs(project)}
    assert again == {"11": "COMPLETED", "12": "RUNNING", "13": "FAILED", "14": "SUBMITTED"}
    calls = (project / "bin" / "calls").read_text().splitlines()
    assert calls[0] == (  # the finished jobs are no longer asked about
        "squeue -h -t all -j 14,12 -O JobID:|,State:|,exit_code:|,TimeUsed:|,StartTime:|,EndTime:|"
    )


def test_the_steps_of_a_slurm_pipeline_are_one_job(project: Path) -> None:
    home = project / "home" / ".runspec" / "jobs"
    for step, name in enumerate(("gen", "count"), start=1):
        _record(home / name / "20250101-120000", executor="slurm", job_id="11", recipe=name,
                step=step, submitted="2025-01-01T12:00:00+0000")  # fmt: skip
    for program in ("squeue", "sacct"):
        (project / "bin" / program).write_text("#!/bin/sh\nexit 1\n")
        (project / "bin" / program).chmod(0o755)
    [job] = _jobs(project)
    assert (job["id"], job["recipe"]) == ("11", "count + gen")


def test_squeue_and_sacct_answers_parse() -> None:
    def run(argv: list[str]) -> tuple[int, str, str]:
        if argv[0] == "squeue":
            return 0, "5|FAILED|35072|0:01|2025-01-01T12:00:00|x|\n6|CANCELLED|9|0:00|N/A|x|\n", ""
        return 1, "", "Slurm accounting storage is disabled"

    found = states(["5", "6", "7"], run)  # type: ignore[arg-type]
    assert {k: (v.state, v.exit_code, v.start) for k, v in found.items()} == {
        "5": ("FAILED", 137, "2025-01-01T12:00:00"),
        "6": ("CANCELLED", 137, None),
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:07", 7), ("1:02:03", 3723), ("2-00:00:01", 172801), ("", None), ("INVALID", None)],
)
def test_slurm_clock(text: str, seconds: float | None) -> None:
    assert parse_clock(text) == seconds


# display -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.51, "0.5s"), (42, "42s"), (185, "3m05s"), (7620, "2h07m"), (273600, "3d04h")],
)
def test_duration_text(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


class _Terminal:
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "colour"),
    [({}, True), ({"NO_COLOR": "1"}, False), ({"NO_COLOR": ""}, True), ({"TERM": "dumb"}, False)],
    ids=["terminal", "no-color", "empty-no-color", "dumb"],
)
def test_colour_only_on_a_terminal_without_no_color(environ: dict, colour: bool) -> None:  # type: ignore[type-arg]
    assert style_for(_Terminal(), environ) == Style(colour)  # type: ignore[arg-type]
    with open(os.devnull, "w") as stream:
        assert style_for(stream, {}) == PLAIN


def test_states_are_coloured_on_a_terminal(tmp_path: Path) -> None:
    from runspec.history import JobEntry

    entry = JobEntry("1", "r", None, "local", "FAILED", 3, None, None, tmp_path, {})
    assert "\033[31mFAILED" in render_jobs([entry], Style(True))
    assert "\033[" not in render_jobs([entry], PLAIN)
