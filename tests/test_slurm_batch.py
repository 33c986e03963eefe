"""The Slurm doers with an injected runner (parsing, fallbacks, polling, clean-up), and the CLI.

The same capabilities run for real on the local cluster in tests/integration/test_slurm.py;
these tests pin what a real cluster cannot be made to do on demand (accounting answers,
a purged job, sbatch refusing after the folder was written).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from runspec.errors import SlurmError
from runspec.slurm import cluster
from tests.support import Result
from tests.test_slurm_render import make_job

SCONTROL = (
    "JobId=42 JobName=my job UserId=root(0) JobState={state} Reason=None Dependency=(null) "
    "ExitCode={code} RunTime=00:00:03 NodeList=node[1-2] StdErr=/jobs/x/my job-42.err "
    "StdOut=/jobs/x/my job-42.out"
)


class FakeSlurm:
    """A runner answering from a table ``program -> list of (code, stdout, stderr)``."""

    def __init__(self, answers: dict[str, list[tuple[int, str, str]]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        queue = self.answers.get(argv[0], [])
        if not queue:
            return 1, "", f"{argv[0]}: no answer"
        return queue.pop(0) if len(queue) > 1 else queue[0]


def test_backoff_is_quick_first_then_never_tighter_than_three_seconds() -> None:
    delays = cluster.Backoff().delays()
    assert [next(delays) for _ in range(8)] == [1.0, 1.0, 1.0, 3.0, 4.5, 6.75, 10.0, 10.0]


@pytest.mark.parametrize(
    ("state", "raw", "code"),
    [("COMPLETED", "0:0", 0), ("FAILED", "3:0", 3), ("CANCELLED", "0:15", 143),
     ("FAILED", "0:9", 137), ("TIMEOUT", "0:0", 1), ("NODE_FAIL", "0:0", 1)],
    ids=["ok", "exit-3", "sigterm", "sigkill", "timeout", "node-fail"],
)  # fmt: skip
def test_exit_code_from_slurm(state: str, raw: str, code: int) -> None:
    assert cluster._exit_code(state, raw) == code


def test_scontrol_fields_keep_spaces_in_values() -> None:
    fake = FakeSlurm({"scontrol": [(0, SCONTROL.format(state="COMPLETED", code="0:0"), "")]})
    found = cluster.query("42", fake)
    assert found == {
        "job_id": "42", "name": "my job", "state": "COMPLETED", "exit_code": 0, "reason": "None",
        "nodes": "node[1-2]", "elapsed": "00:00:03", "stdout": "/jobs/x/my job-42.out",
        "stderr": "/jobs/x/my job-42.err", "source": "scontrol",
    }  # fmt: skip


FALLBACKS: list[tuple[str, dict[str, list[tuple[int, str, str]]], str, str]] = [
    ("scontrol", {"scontrol": [(0, SCONTROL.format(state="RUNNING", code="0:0"), "")]},
     "scontrol", "RUNNING"),
    ("purged-then-sacct", {"scontrol": [(1, "", "slurm_load_jobs error: Invalid job id")],
                           "sacct": [(0, "42|my job|FAILED|2:0|None|node1|00:00:09\n", "")]},
     "sacct", "FAILED"),
    ("no-accounting-then-squeue", {"sacct": [(1, "", "Slurm accounting storage is disabled")],
                                   "squeue": [(0, "42|my job|PENDING|Priority||0:00\n", "")]},
     "squeue", "PENDING"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("answers", "source", "state"), [case[1:] for case in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_query_falls_back(answers: dict[str, Any], source: str, state: str) -> None:
    found = cluster.query("42", FakeSlurm(answers))
    assert (found["source"], found["state"]) == (source, state)


def test_unknown_job_is_an_error() -> None:
    with pytest.raises(SlurmError) as caught:
        cluster.query("42", FakeSlurm({}))
    assert str(caught.value) == (
        "job 42 is unknown to Slurm (scontrol, sacct and squeue have no record)"
    )


def test_wait_polls_with_backoff_and_reports_each_state() -> None:
    lines = [SCONTROL.format(state=s, code=c) for s, c in
             [("PENDING", "0:0"), ("PENDING", "0:0"), ("RUNNING", "0:0"), ("FAILED", "3:0")]]  # fmt: skip
    fake = FakeSlurm({"scontrol": [(0, line, "") for line in lines]})
    slept: list[float] = []
    states: list[str] = []
    code = cluster.wait("42", on_state=states.append, runner=fake, sleep=slept.append)
    assert (code, states, slept) == (3, ["PENDING", "RUNNING", "FAILED"], [1.0, 1.0, 1.0])


def _submit(
    tmp_path: Path, answers: dict[str, Any], env: dict[str, Any] | None = None, **kw: Any
) -> tuple[Callable[[], str], Path, FakeSlurm]:
    from runspec.slurm import render_sbatch

    folder = tmp_path / "jobs" / "slurm-tests-echo" / "20250101-120000"
    job = make_job("echo.py", env or {}, folder=folder)
    fake = FakeSlurm(answers)
    script = render_sbatch(job, secrets_apart=True)
    return (lambda: cluster.submit(job, script, argv=["runspec"], runner=fake, **kw)), folder, fake


def test_submit_writes_the_folder_and_returns_the_id(tmp_path: Path) -> None:
    secrets = {"env_vars": {"HF_TOKEN": "hf_x"}}
    go, folder, fake = _submit(tmp_path, {"sbatch": [(0, "4242;cluster\n", "")]}, secrets)
    assert go() == "4242"
    assert fake.calls == [["sbatch", "--parsable", str(folder / "sbatch.sh")]]
    assert sorted(os.listdir(folder)) == ["config.json", "runspec.json", "sbatch.sh", "secrets.env"]
    modes = {name: stat.S_IMODE((folder / name).stat().st_mode) for name in os.listdir(folder)}
    # the script can be shared: the token is in secrets.env (and the config's run.env)
    assert modes == {"config.json": 0o600, "runspec.json": 0o600, "sbatch.sh": 0o644,
                     "secrets.env": 0o600}  # fmt: skip
    assert "hf_x" not in (folder / "sbatch.sh").read_text()
    assert (folder / "secrets.env").read_text() == "export HF_TOKEN=hf_x\n"
    assert (
        f"runspec_xtrace=${{-//[^x]/}}; set +x; . {folder / 'secrets.env'}; "
        "[[ -z $runspec_xtrace ]] || set -x\n"
    ) in (folder / "sbatch.sh").read_text()


def test_sbatch_failure_is_shown_verbatim_and_nothing_stays(tmp_path: Path) -> None:
    answer = (1, "", "sbatch: error: Batch job submission failed: Invalid partition name\n")
    go, folder, _ = _submit(tmp_path, {"sbatch": [answer]})
    with pytest.raises(SlurmError) as caught:
        go()
    assert str(caught.value) == (
        "sbatch failed with exit code 1: "
        "sbatch: error: Batch job submission failed: Invalid partition name"
    )
    assert not folder.exists() and not folder.parent.exists()


def test_test_only_returns_sbatch_answer_and_removes_the_folder(tmp_path: Path) -> None:
    answer = (0, "", "sbatch: Job 7 to start at 2025-01-01T12:00:00 using 1 processors\n")
    go, folder, fake = _submit(tmp_path, {"sbatch": [answer]}, test_only=True)
    assert go() == "sbatch: Job 7 to start at 2025-01-01T12:00:00 using 1 processors"
    assert fake.calls[0][:2] == ["sbatch", "--test-only"]
    assert not folder.exists()


def test_sbatch_without_a_job_id_is_refused(tmp_path: Path) -> None:
    go, folder, _ = _submit(tmp_path, {"sbatch": [(0, "Submitted batch job\n", "")]})
    with pytest.raises(SlurmError) as caught:
        go()
    assert str(caught.value) == "sbatch printed no job id (got 'Submitted batch job')"
    assert not folder.exists()


def test_missing_sbatch_is_named() -> None:
    with pytest.raises(SlurmError) as caught:
        cluster.require_sbatch(which=lambda name: None)
    assert str(caught.value) == (
        "sbatch not found on PATH; submitting needs a Slurm login node "
        "('runspec sbatch' renders the script anywhere)"
    )


def test_cancel_failure_is_shown_verbatim() -> None:
    fake = FakeSlurm({"scancel": [(1, "", "scancel: error: Invalid job id 99x\n")]})
    with pytest.raises(SlurmError) as caught:
        cluster.cancel(["99x"], fake)
    assert str(caught.value) == "scancel failed with exit code 1: scancel: error: Invalid job id 99x"
    assert fake.calls == [["scancel", "--verbose", "99x"]]


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"job_dir": "/a", "remote_job_dir": "/b"}, "/a"), ({"remote_job_dir": "/b"}, "/b"),
     ({}, os.path.expanduser("~/.runspec/jobs"))],
    ids=["job_dir", "remote_job_dir", "home"],
)  # fmt: skip
def test_job_root(env: dict[str, str], expected: str) -> None:
    assert cluster.job_root(env) == Path(expected)


def test_status_table() -> None:
    rows = [
        {"job_id": "1", "state": "COMPLETED", "exit_code": 0, "name": "a", "nodes": "node1",
         "reason": "None"},
        {"job_id": "2", "state": "PENDING", "exit_code": None, "name": "b", "nodes": "",
         "reason": "Dependency"},
    ]  # fmt: skip
    assert cluster.render_status(rows) == (
        "JOBID      STATE        EXIT  NAME                     NODES/REASON\n"
        "1          COMPLETED       0  a                        node1\n"
        "2          PENDING            b                        Dependency\n"
    )


# -- the command line (no cluster needed) ----------------------------------------------------

ENV_TOML = """\
[cluster]
executor = "slurm"
partition = "debug"
gpus_per_node = 0
job_dir = "{jobs}"
env_vars = { HF_TOKEN = "hf_secret", PLAIN = "v" }

[laptop]
executor = "local"
job_dir = "{jobs}"
"""


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "env.toml"
    path.write_text(ENV_TOML.replace("{jobs}", str(tmp_path / "jobs")))
    monkeypatch.setenv("RUNSPEC_ENV_FILE", str(path))
    return path


def test_cli_sbatch_prints_masked_and_writes_unmasked(
    cli: Callable[..., Result], env_file: Path, repo: Path, tmp_path: Path
) -> None:
    recipe = repo / "tests" / "data" / "slurm" / "recipes" / "echo.py"
    shown = cli("sbatch", recipe, "-p", "cluster", "sleep=1", "--", "--flag", "a b")
    assert shown.code == 0, shown.err
    assert "export HF_TOKEN='********'\n" in shown.out and "hf_secret" not in shown.out
    assert shown.out.rstrip().endswith("--flag 'a b'")
    target = tmp_path / "job.sh"
    written = cli("sbatch", recipe, "-p", "cluster", "-o", target)
    assert (written.code, written.out) == (0, "")
    assert "export HF_TOKEN=hf_secret\n" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not (tmp_path / "jobs").exists()  # printing creates no job folder


@pytest.mark.parametrize(
    ("where", "reason"),
    [("missing/job.sh", "No such file or directory"), (".", "Is a directory")],
    ids=["missing-folder", "a-folder"],
)
def test_cli_sbatch_output_that_cannot_be_written_is_one_line(
    cli: Callable[..., Result], env_file: Path, repo: Path, tmp_path: Path, where: str,
    reason: str,
) -> None:
    recipe = repo / "tests" / "data" / "slurm" / "recipes" / "echo.py"
    target = tmp_path / where
    written = cli("sbatch", recipe, "-p", "cluster", "-o", target)
    assert written.code == 1
    assert written.err == f"runspec: error: {target}: cannot write the batch script: {reason}\n"
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


CLI_REFUSALS = [
    ("no-profile", ("sbatch", "{recipe}"), "runspec: error: sbatch needs a Slurm profile: -p PROFILE\n"),
    ("bad-time", ("sbatch", "{recipe}", "-p", "cluster", "run.env.time=soon"),
     "runspec: error: run.env.time: bad time 'soon' (expected MM, MM:SS, HH:MM:SS, D-HH, "
     "D-HH:MM or D-HH:MM:SS)\n"),
    ("bad-dependency", ("submit", "{recipe}", "-p", "cluster", "--after", "1",
                        "--dependency-type", "afterwards"),
     "runspec: error: unknown dependency type 'afterwards' (expected one of: afterany, "
     "afternotok, afterok)\n"),
    ("local-profile", ("submit", "{recipe}", "-p", "laptop"),
     "runspec: error: run.env.executor: profile 'laptop' has executor 'local', not 'slurm'\n"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"), [case[1:] for case in CLI_REFUSALS], ids=[c[0] for c in CLI_REFUSALS]
)
def test_cli_refusals_leave_nothing_behind(
    cli: Callable[..., Result], env_file: Path, repo: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], message: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "sbatch").write_text("#!/bin/sh\nexit 99\n")  # never reached
    (tmp_path / "sbatch").chmod(0o755)
    recipe = repo / "tests" / "data" / "slurm" / "recipes" / "echo.py"
    done = cli(*(word.format(recipe=recipe) for word in argv))
    assert (done.code, done.out, done.err) == (1, "", message)
    jobs = tmp_path / "jobs"
    assert not jobs.exists() or not any(jobs.rglob("*"))


def test_cli_submit_without_sbatch_says_so(
    cli: Callable[..., Result], env_file: Path, repo: Path, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    recipe = repo / "tests" / "data" / "slurm" / "recipes" / "echo.py"
    done = cli("submit", recipe, "-p", "cluster")
    assert done.code == 1
    assert done.err == (
        "runspec: error: sbatch not found on PATH; submitting needs a Slurm login node "
        "('runspec sbatch' renders the script anywhere)\n"
    )
    assert not (tmp_path / "jobs").exists()
