"""runspec on a real Slurm cluster (tests/cluster/slurm.sh), always through the command line.

Every test runs ``python -m runspec submit|run|pipe|status|cancel`` in a subprocess against
the local test cluster, with an env.toml whose job folders live in the test's tmp_path.
Containers cannot run here (the cluster has no pyxis): their scripts are golden-tested in
tests/test_slurm_render.py, and here a container job is shown to fail visibly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import require_module

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "tests" / "data" / "slurm" / "recipes"
TIMEOUT = 120


def toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly."""
    return json.dumps(text, ensure_ascii=False)


def write_env(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "env.toml"
    path.write_text(
        "[cluster]\n"
        'executor = "slurm"\n'
        'partition = "debug"\n'
        "gpus_per_node = 0\n"
        'time = "10:00"\n'
        f"job_dir = {toml_string(str(tmp_path / 'jobs'))}\n" + extra,
        encoding="utf-8",
    )
    return path


def runspec(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the env.toml of ``tmp_path``, from ``tmp_path``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RUNSPEC_ENV_FILE": str(tmp_path / "env.toml")}
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


def job_folders(tmp_path: Path) -> list[Path]:
    return sorted(path.parent for path in (tmp_path / "jobs").glob("*/*/sbatch.sh"))


def the_folder(tmp_path: Path, job_id: str) -> Path:
    for folder in job_folders(tmp_path):
        record = json.loads((folder / "runspec.json").read_text())
        if record["job_id"] == job_id:
            return folder
    raise AssertionError(f"no job folder records job {job_id}")


def state_of(tmp_path: Path, job_id: str) -> dict[str, Any]:
    done = runspec(tmp_path, "status", job_id, "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows[0]


def test_direct_job_output_lands_in_job_folder(tmp_path: Path) -> None:
    write_env(tmp_path)
    done = runspec(tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "--wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.splitlines()[0]
    folder = the_folder(tmp_path, job_id)
    names = sorted(path.name for path in folder.iterdir())
    out, err = f"slurm-tests-echo-{job_id}.out", f"slurm-tests-echo-{job_id}.err"
    assert names == sorted(["config.json", "runspec.json", "sbatch.sh", "record-0.json", out, err])
    assert (folder / out).read_text() == "echo ran on node1\n"
    record = json.loads((folder / "runspec.json").read_text())
    assert (record["profile"], record["executor"]) == ("cluster", "slurm")
    assert "echo ran on node1" in done.stdout
    assert f"runspec: job {job_id}: COMPLETED" in done.stderr


def test_torchrun_two_nodes_two_processes(tmp_path: Path) -> None:
    write_env(tmp_path)
    recipe = str(RECIPES / "ranks.py")
    done = runspec(tmp_path, "run", recipe, "-p", "cluster", "run.env.nodes=2", "run.env.gpus_per_node=2")
    assert done.returncode == 0, done.stderr
    (folder,) = job_folders(tmp_path)
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("rank-*.json"))]
    assert sorted(int(record["RANK"]) for record in records) == [0, 1, 2, 3]
    assert {record["WORLD_SIZE"] for record in records} == {"4"}
    assert {record["rank_sum"] for record in records} == {6}  # all_reduce over all four
    by_node = sorted((record["SLURMD_NODENAME"], record["LOCAL_RANK"]) for record in records)
    assert by_node == [("node1", "0"), ("node1", "1"), ("node2", "0"), ("node2", "1")]


def job_processes(job_id: str) -> list[str]:
    """Command lines of the live processes of Slurm job ``job_id`` (found by their environment)."""
    wanted = f"SLURM_JOB_ID={job_id}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:  # a zombie has an empty environment; a process may end while we look
            if wanted in environ.read_bytes().split(b"\0"):
                found.append((environ.parent / "cmdline").read_bytes().replace(b"\0", b" "))
        except OSError:
            continue
    return [command.decode(errors="replace") for command in found]


def test_ray_cluster_spans_two_nodes_and_stops_with_the_job(tmp_path: Path) -> None:
    require_module("ray")
    write_env(tmp_path)
    done = runspec(
        tmp_path, "submit", str(RECIPES / "ray_app.py"), "-p", "cluster", "run.env.nodes=2",
        "run.env.gpus_per_node=2", "--wait",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.splitlines()[0]
    assert job_processes(job_id) == []  # no raylet, GCS or Ray worker outlives the job
    assert "runspec: stopping the Ray cluster" in done.stderr
    record = json.loads((the_folder(tmp_path, job_id) / "ray.json").read_text())
    assert (record["job_nodes"], record["alive_nodes"]) == (2, 2)
    tasks = sorted(record["tasks"], key=lambda task: str(task["slurm_node"]))
    assert [task["slurm_node"] for task in tasks] == ["node1", "node2"]
    assert len({task["ray_node"] for task in tasks}) == 2  # one task on each Ray node
    assert sorted(record["gpus"].values()) == [2, 2]  # --num-gpus is the job's share
    assert {task["python"] for task in tasks} == {sys.executable}  # runspec's python


def test_dependency_chain(tmp_path: Path) -> None:
    write_env(tmp_path)
    echo = str(RECIPES / "echo.py")
    failing = runspec(tmp_path, "submit", echo, "-p", "cluster", "exit_code=3", "sleep=1")
    assert failing.returncode == 0, failing.stderr
    first = failing.stdout.strip()
    never = runspec(tmp_path, "submit", echo, "-p", "cluster", "--after", first)
    assert never.returncode == 0, never.stderr
    anyway = runspec(
        tmp_path, "submit", echo, "-p", "cluster", "--after", first,
        "--dependency-type", "afterany", "--wait",
    )  # fmt: skip
    assert anyway.returncode == 0, anyway.stderr
    assert state_of(tmp_path, first)["exit_code"] == 3
    skipped = never.stdout.strip()
    assert state_of(tmp_path, skipped)["state"] == "CANCELLED"
    assert not (the_folder(tmp_path, skipped) / "record-0.json").exists()
    ran = the_folder(tmp_path, anyway.stdout.splitlines()[0])
    assert (ran / "record-0.json").exists()
    script = (the_folder(tmp_path, skipped) / "sbatch.sh").read_text()
    assert f"#SBATCH --dependency=afterok:{first}\n" in script


@pytest.mark.parametrize("code", [7, 0], ids=["failing", "succeeding"])
def test_wait_returns_the_job_exit_code(tmp_path: Path, code: int) -> None:
    write_env(tmp_path)
    done = runspec(
        tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", f"exit_code={code}", "--wait"
    )
    assert done.returncode == code, done.stderr
    job_id = done.stdout.splitlines()[0]
    last = done.stderr.splitlines()[-1]
    if code:
        assert last == f"runspec: job {job_id} failed with exit code {code}"
    else:
        assert re.fullmatch(rf"runspec: job {job_id}: COMPLETED, [0-9]+:[0-9]{{2}} elapsed", last)


def test_cancel_stops_a_running_job(tmp_path: Path) -> None:
    write_env(tmp_path)
    done = runspec(tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "sleep=300")
    job_id = done.stdout.strip()
    folder = the_folder(tmp_path, job_id)
    deadline = time.monotonic() + 60
    while not (folder / "record-0.json").exists():  # the recipe has started
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.2)
    assert state_of(tmp_path, job_id)["state"] == "RUNNING"
    cancelled = runspec(tmp_path, "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stderr == f"runspec: cancelled job {job_id}\n"
    while state_of(tmp_path, job_id)["state"] not in ("CANCELLED", "COMPLETED", "FAILED"):
        assert time.monotonic() < deadline, "the job did not stop"
        time.sleep(0.5)
    assert state_of(tmp_path, job_id)["state"] == "CANCELLED"


def test_cancel_of_an_unknown_job_is_an_error(tmp_path: Path) -> None:
    # Slurm's scancel says nothing and exits 0 for a job it never had.
    write_env(tmp_path)
    done = runspec(tmp_path, "cancel", "99999999")
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "runspec: error: job 99999999 is unknown to Slurm: nothing to cancel\n"
    )


@pytest.mark.parametrize("attached", ["-p", "-r"])
def test_an_attached_run_ends_with_the_jobs_exit_code(tmp_path: Path, attached: str) -> None:
    write_env(tmp_path)
    done = runspec(tmp_path, "run", str(RECIPES / "echo.py"), attached, "cluster", "exit_code=3")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "echo ran on node1\n"
    job_id = re.search(r"submitted batch job ([0-9]+)", done.stderr).group(1)  # type: ignore[union-attr]
    assert re.search(rf"^runspec: job {job_id}: FAILED \(NonZeroExitCode\), [0-9]+:[0-9]{{2}} elapsed$",
                     done.stderr, re.M), done.stderr  # fmt: skip
    assert done.stderr.splitlines()[-1] == f"runspec: job {job_id} failed with exit code 3"


def test_test_only_validates_without_queueing(tmp_path: Path) -> None:
    write_env(tmp_path)
    done = runspec(tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "--test-only")
    assert done.returncode == 0, done.stderr
    assert "to start at" in done.stdout
    assert job_folders(tmp_path) == []
    refused = runspec(
        tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "run.env.nodes=9",
        "--test-only",
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr == (  # sbatch's own words, verbatim
        "runspec: error: sbatch failed with exit code 1: "
        "allocation failure: Node count specification invalid\n"
    )
    assert job_folders(tmp_path) == []
    assert not any((tmp_path / "jobs").rglob("*"))  # nothing half-written stays


HOSTILE = "sp ace 'q' \"dq\" $(touch {pwned}) `touch {pwned}` ; touch {pwned} * ? [a] ü ✓ \\ %x"


def test_hostile_values_reach_the_job_byte_for_byte(tmp_path: Path) -> None:
    hostile = HOSTILE.format(pwned=tmp_path / "pwned")
    write_env(tmp_path, f"env_vars = {{ HOSTILE_ENV = {toml_string(hostile)} }}\n")
    (tmp_path / "touch-me").write_text("")  # a file for the globs to match
    source = (RECIPES / "echo.py").read_text()
    name = f"evil {hostile}"
    recipe = tmp_path / "evil recipe.py"
    recipe.write_text(source.replace('"slurm-tests/echo"', toml_string(name)))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text('{"exit_code": 0, "sleep": 0}')
    args = [hostile, "*", "$HOME", "a\tb", ""]
    done = runspec(tmp_path, "submit", str(recipe), "-p", "cluster", "--wait", "--", *args)
    assert done.returncode == 0, done.stderr
    folder = the_folder(tmp_path, done.stdout.splitlines()[0])
    record = json.loads((folder / "record-0.json").read_text())
    assert record["argv"][2:] == args
    assert record["env"]["HOSTILE_ENV"] == hostile
    assert record["recipe_name"] == name
    assert not (tmp_path / "pwned").exists()


def test_secret_values_stay_out_of_the_script_and_out_of_slurm(tmp_path: Path) -> None:
    secret = "s3cr3t value with 'quotes' and $HOME"
    write_env(tmp_path, f"env_vars = {{ HOSTILE_TOKEN = {toml_string(secret)} }}\n")
    done = runspec(tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "--wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.splitlines()[0]
    folder = the_folder(tmp_path, job_id)
    record = json.loads((folder / "record-0.json").read_text())
    assert record["env"]["HOSTILE_TOKEN"] == secret  # the job got it, byte for byte
    assert "s3cr3t" not in (folder / "sbatch.sh").read_text()
    assert oct(os.stat(folder / "sbatch.sh").st_mode & 0o777) == oct(0o644)
    assert oct(os.stat(folder / "secrets.env").st_mode & 0o777) == oct(0o600)
    for argv in (["scontrol", "show", "job", "-dd", job_id],
                 ["scontrol", "write", "batch_script", job_id, "-"]):  # fmt: skip
        shown = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
        assert shown.returncode == 0, shown.stderr
        assert "s3cr3t" not in shown.stdout, argv


def test_container_job_fails_visibly_without_pyxis(tmp_path: Path) -> None:
    mount = f"/data/{HOSTILE.format(pwned=tmp_path / 'pwned').replace(':', '').replace(',', '')}:/in"
    extra = f'container_image = "ubuntu:24.04"\nmounts = [{toml_string(mount)}]\n'
    write_env(tmp_path, extra)
    done = runspec(tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "--wait")
    assert done.returncode != 0
    folder = the_folder(tmp_path, done.stdout.splitlines()[0])
    assert "unrecognized option '--container-image=ubuntu:24.04'" in done.stderr
    lines = (folder / "sbatch.sh").read_text().splitlines()
    tokens = shlex.split(next(line for line in lines if line.startswith("srun ")))
    (mounts,) = [token for token in tokens if token.startswith("--container-mounts=")]
    assert mounts.split(",")[0] == f"--container-mounts={mount}"
    assert not (tmp_path / "pwned").exists()


def _chain(size: int, seed: bytes) -> bytes:
    loaded = importlib.util.spec_from_file_location("gen_recipe", RECIPES / "gen.py")
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    data: bytes = module.chain(size, seed)
    return data


def _pipe(tmp_path: Path, relay: list[str], digest: list[str]) -> subprocess.CompletedProcess[str]:
    write_env(tmp_path)
    steps = [str(RECIPES / "gen.py"), "--", "3000000", "seed", "+", str(RECIPES / "relay.py")]
    steps += (["--", *relay] if relay else []) + ["+", str(RECIPES / "digest.py")]
    steps += ["--", *digest] if digest else []
    return runspec(tmp_path, "pipe", "-p", "cluster", *steps)


def test_pipeline_streams_bytes_end_to_end(tmp_path: Path) -> None:
    done = _pipe(tmp_path, [], [])
    assert done.returncode == 0, done.stderr
    expected = hashlib.sha256(_chain(3_000_000, b"seed")).hexdigest()
    assert done.stdout == f"3000000 {expected}\n"
    (folder,) = job_folders(tmp_path)
    assert "mkfifo" in (folder / "sbatch.sh").read_text()
    assert not (folder / "pipes").exists()  # removed when the job ends


def test_pipeline_exit_code_is_the_first_failing_step(tmp_path: Path) -> None:
    done = _pipe(tmp_path, ["5"], [])
    assert done.returncode == 5
    assert "runspec: step 2 (slurm-tests-relay) failed: exit code 5" in done.stderr


def test_pipeline_early_exit_downstream_is_no_failure(tmp_path: Path) -> None:
    done = _pipe(tmp_path, [], ["10"])
    assert done.returncode == 0, done.stderr
    expected = hashlib.sha256(_chain(10, b"seed")).hexdigest()
    assert done.stdout == f"10 {expected}\n"


def test_pipeline_prefix_names_each_stderr_line_as_locally(tmp_path: Path) -> None:
    write_env(tmp_path)
    steps = [str(ROOT / "examples" / "pipe" / "generate.py"), "-c", "small", "+",
             str(ROOT / "examples" / "pipe" / "count.py")]  # fmt: skip
    local = runspec(tmp_path, "pipe", "--prefix", *steps)
    assert local.returncode == 0, local.stderr
    done = runspec(tmp_path, "pipe", "-p", "cluster", "--prefix", *steps)
    assert done.returncode == 0, done.stderr
    assert done.stdout == local.stdout
    job_lines = [line for line in done.stderr.splitlines(keepends=True) if not line.startswith("runspec: ")]
    assert "".join(job_lines) == local.stderr == "[examples-pipe-generate] generated 10 records\n"


def start_runspec(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RUNSPEC_ENV_FILE": str(tmp_path / "env.toml")}
    return subprocess.Popen(
        [sys.executable, "-m", "runspec", *args], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def read_until(stream: Any, text: str) -> str:
    """Lines of ``stream`` up to the first that holds ``text`` (the process writes it soon)."""
    seen = ""
    while text not in seen:
        line = stream.readline()
        assert line, f"the stream ended before {text!r}; got {seen!r}"
        seen += line
    return seen


def test_ctrl_c_cancels_an_attached_run(tmp_path: Path) -> None:
    write_env(tmp_path)
    process = start_runspec(tmp_path, "run", str(RECIPES / "echo.py"), "-p", "cluster", "sleep=300")
    read_until(process.stdout, "echo ran on node1")  # the job runs
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=TIMEOUT)
    job_id = re.search(r"submitted batch job ([0-9]+)", err).group(1)  # type: ignore[union-attr]
    assert process.returncode == 130
    assert err.splitlines()[-1] == f"runspec: cancelled job {job_id}"
    deadline = time.monotonic() + 60
    while state_of(tmp_path, job_id)["state"] not in ("CANCELLED", "COMPLETED", "FAILED"):
        assert time.monotonic() < deadline, "the job did not stop"
        time.sleep(0.5)
    assert state_of(tmp_path, job_id)["state"] == "CANCELLED"


def test_ctrl_c_while_waiting_leaves_the_job_running(tmp_path: Path) -> None:
    write_env(tmp_path)
    process = start_runspec(
        tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "sleep=300", "--wait"
    )
    job_id = process.stdout.readline().strip()  # type: ignore[union-attr]
    read_until(process.stderr, f"runspec: job {job_id}: RUNNING on node1")
    process.send_signal(signal.SIGINT)
    # What follows is read through the same stream: communicate() would miss what
    # readline() buffered already.
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    try:
        err = process.stderr.read()  # type: ignore[union-attr]
        process.communicate(timeout=TIMEOUT)
    finally:
        watchdog.cancel()
    assert process.returncode == 130
    assert err.splitlines()[-1] == (
        f"runspec: job {job_id} keeps running; cancel it with 'runspec cancel {job_id}'"
    )
    assert state_of(tmp_path, job_id)["state"] == "RUNNING"
    assert runspec(tmp_path, "cancel", job_id).returncode == 0


def test_waiting_on_a_terminal_rewrites_one_line(tmp_path: Path) -> None:
    import pty

    write_env(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RUNSPEC_ENV_FILE": str(tmp_path / "env.toml")}
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runspec", "submit", str(RECIPES / "echo.py"), "-p", "cluster",
         "sleep=2", "--wait"],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    seen = b""
    try:
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:  # EIO: every writer of the terminal is gone
                break
            if not data:
                break
            seen += data
        out, _ = process.communicate(timeout=TIMEOUT)  # stdout was not read before
    finally:
        watchdog.cancel()
        os.close(main)
    assert process.returncode == 0, seen
    job_id = out.decode().splitlines()[0]
    text = seen.decode()
    assert re.match(rf"\r\x1b\[Krunspec: job {job_id}: (PENDING|RUNNING)", text), text
    # The state is one line rewritten in place; only how the job ended gets a line of its own.
    assert not re.search(r"elapsed\r\n.", text, re.S), text
    assert re.search(rf"\r\x1b\[Krunspec: job {job_id}: COMPLETED, [0-9]+:[0-9]{{2}} elapsed\r\n$", text), text


def test_logs_print_and_follow_a_job_of_this_cluster(tmp_path: Path) -> None:
    write_env(tmp_path)
    done = runspec(tmp_path, "submit", str(RECIPES / "echo.py"), "-p", "cluster", "exit_code=4", "sleep=2")
    job_id = done.stdout.strip()
    followed = runspec(tmp_path, "logs", job_id, "-f")
    assert followed.returncode == 4
    assert followed.stdout == "echo ran on node1\n"
    assert followed.stderr.splitlines()[-1] == f"runspec: job {job_id} failed with exit code 4"
    printed = runspec(tmp_path, "logs", job_id)
    assert (printed.returncode, printed.stdout) == (0, "echo ran on node1\n")
    assert "srun: error: node1: task 0: Exited with exit code 4" in printed.stderr
