"""`runspec run` on this machine, through the real CLI and real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO, cli_env, require_module

DATA = REPO / "tests" / "data" / "run"


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    """A private copy of the test recipes (job folders land in the test's own cwd)."""
    target = tmp_path / "recipes"
    shutil.copytree(DATA, target)
    (tmp_path / "pyproject.toml").write_text("")  # the project root for env.toml discovery
    return target


def _probe(stdout: str) -> dict:
    return json.loads(stdout.splitlines()[0])


def _job_dirs(cwd: Path) -> list[Path]:
    root = cwd / ".runspec" / "jobs"
    return sorted(root.iterdir()) if root.exists() else []


def test_run_writes_job_folder_and_record(runspec, recipes, tmp_path):
    done = runspec("run", str(recipes / "probe.py"), "-c", "other", "nested.value=5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [folder] = _job_dirs(tmp_path)
    assert folder.name.endswith("-tests-probe")
    saved = json.loads((folder / "config.json").read_text())
    received = _probe(done.stdout)
    assert received["config"] == saved
    assert saved["nested"] == {"value": 5}
    assert saved["run"]["job"]["dir"] == str(folder)
    record = json.loads((folder / "runspec.json").read_text())
    assert record["exit_code"] == 0
    assert record["executor"] == "local"
    assert record["argv"][-2:] == ["other", "nested.value=5"]
    assert record["config"] == str(recipes / "config" / "other.json")


def test_run_environment_from_recipe_and_profile(runspec, recipes, tmp_path):
    (tmp_path / "env.toml").write_text(
        '[laptop]\nexecutor = "local"\nnodes = 3\n[laptop.env_vars]\nPROBE_FROM_PROFILE = "p v"\n'
    )
    done = runspec("run", str(recipes / "probe.py"), "-p", "laptop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    env = _probe(done.stdout)["env"]
    assert env["PROBE_FROM_RECIPE"] == "recipe value"
    assert env["PROBE_TEMPLATED"] == "nodes=3"
    assert env["PROBE_FROM_PROFILE"] == "p v"
    assert env["RUNSPEC_JOB_DIR"] == str(_job_dirs(tmp_path)[0])


def test_run_passes_script_arguments_verbatim(runspec, recipes, tmp_path):
    hostile = ["--flag", "two words", "$(touch pwned)", "`id`", "a;b", "*", "ünï"]
    done = runspec("run", str(recipes / "probe.py"), "--", *hostile, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _probe(done.stdout)["args"] == hostile
    assert not (tmp_path / "pwned").exists()


def test_run_from_another_directory_finds_the_config(runspec, recipes, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = runspec("run", str(recipes / "probe.py"), cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert _probe(done.stdout)["config"]["message"] == "default"


@pytest.mark.parametrize(
    ("override", "code", "message"),
    [
        ("exit_code=3", 3, "runspec: tests-probe failed with exit code 3\n"),
        ("exit_code=0", 0, ""),
    ],
    ids=["failure", "success"],
)
def test_run_exit_code_is_the_recipes(runspec, recipes, tmp_path, override, code, message):
    done = runspec("run", str(recipes / "probe.py"), override, cwd=tmp_path)
    assert done.returncode == code
    assert done.stderr == message
    record = json.loads((_job_dirs(tmp_path)[0] / "runspec.json").read_text())
    assert record["exit_code"] == code


def test_dry_run_writes_nothing_and_prints_the_command(runspec, recipes, tmp_path):
    done = runspec("run", str(recipes / "probe.py"), "--dry-run", "--", "a b", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".runspec").exists()
    command = done.stdout.split("# command\n")[1]
    assert f"{recipes / 'probe.py'} --config " in command
    assert command.rstrip().endswith("'a b'")
    assert "'PROBE_FROM_RECIPE=recipe value'" in command
    assert '"message": "default"' in done.stdout


def test_dry_run_masks_secrets(runspec, recipes, tmp_path):
    (tmp_path / "env.toml").write_text('[p.env_vars]\nAPI_TOKEN = "s3cr3t"\nPLAIN = "shown"\n')
    done = runspec("run", str(recipes / "probe.py"), "-p", "p", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "s3cr3t" not in done.stdout
    assert "API_TOKEN=********" in done.stdout
    assert "PLAIN=shown" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "runspec: error: missing.py: no such file\n"),
        (
            ["probe.py", "-c", "nope"],
            "runspec: error: {dir}/probe.py: tool.runspec.config: no config 'nope' in "
            "{dir}/config (available: default, family, head, other, ranks)\n",
        ),
        (["probe.py", "nosuch=1"], None),
        (
            ["probe.py", "-p", "ghost"],
            "runspec: error: profile 'ghost' asked for, but no env.toml was found\n",
        ),
    ],
    ids=["missing-script", "unknown-config", "bad-override", "profile-without-file"],
)
def test_run_refusals(runspec, recipes, tmp_path, args, message):
    done = runspec("run", *args, cwd=recipes)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    if message is not None:
        assert done.stderr == message.format(dir=recipes)
    else:
        assert done.stderr.startswith("runspec: error: ") and "nosuch" in done.stderr
    assert not (recipes / ".runspec").exists()


def test_job_folder_that_cannot_be_created_is_one_line(runspec, recipes, tmp_path):
    (tmp_path / ".runspec").write_text("a file where the jobs folder should go\n")
    done = runspec("run", str(recipes / "probe.py"), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        f"runspec: error: {tmp_path}/.runspec/jobs: cannot create the job folder: "
        "Not a directory\n"
    )


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (
            "python {script} 'open",
            "{script}:6: tool.runspec.run.cmd: cannot split the command: No closing quotation",
        ),
        ("python {script} ${run.nope}", "{script}:6: tool.runspec.run.cmd: ${{run.nope}}: no such key (known: "),
    ],
    ids=["unbalanced-quote", "unknown-reference"],
)
def test_bad_cmd_is_one_line_and_leaves_no_job_folder(runspec, write_recipe, tmp_path, cmd, message):
    toml = f'[tool.runspec]\nname = "c"\n[tool.runspec.run]\nlaunch = "direct"\ncmd = "{cmd}"\n'
    script = write_recipe("c.py", toml + '[tool.runspec.config]\nformat = "json"\n')
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text("{}")
    done = runspec("run", str(script), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("runspec: error: " + message.format(script=script))
    assert done.stderr.count("\n") == 1
    assert _job_dirs(tmp_path) == []


def test_nemo_run_executor_missing_keys_writes_nothing(runspec, recipes, tmp_path):
    require_module("nemo_run")
    (tmp_path / "env.toml").write_text('[lepton]\nexecutor = "lepton"\n')
    done = runspec("run", str(recipes / "probe.py"), "-p", "lepton", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "runspec: error: run.env: the lepton executor needs nemo_run_dir, resource_shape, "
        "node_group, container_image; set them in the profile\n"
    )
    assert _job_dirs(tmp_path) == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_stops_the_whole_process_tree(recipes, tmp_path, sig, code):
    pidfile = tmp_path / "pids.json"
    argv = [
        sys.executable,
        "-m",
        "runspec",
        "run",
        str(recipes / "family.py"),
        f"pidfile={pidfile}",
    ]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=cli_env(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = json.loads(pidfile.read_text())
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [name for name, pid in pids.items() if _alive(pid)]


def test_torchrun_locally_runs_every_rank(runspec, recipes, tmp_path):
    require_module("torch")
    out = tmp_path / "ranks"
    out.mkdir()
    done = runspec(
        "run", str(recipes / "ranks.py"), f"out={out}", "run.env.gpus_per_node=2",
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "runspec: torchrun with 2 process(es) (gpus_per_node from the command line)" in done.stderr
    ranks = sorted(json.loads(p.read_text())["rank"] for p in out.iterdir())
    assert ranks == [0, 1]
    assert {json.loads(p.read_text())["sum"] for p in out.iterdir()} == {3.0}


def test_torchrun_without_gpus_uses_one_process(runspec, recipes, tmp_path):
    require_module("torch")
    out = tmp_path / "ranks"
    out.mkdir()
    env = {"CUDA_VISIBLE_DEVICES": ""}
    done = runspec(
        "run", str(recipes / "ranks.py"), f"out={out}", cwd=tmp_path, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "no GPUs found here; the recipe asks for 2 per node" in done.stderr
    assert [p.name for p in out.iterdir()] == ["rank-0.json"]


def test_run_help_shows_an_example(runspec):
    done = runspec("run", "--help")
    assert done.returncode == 0
    assert "example:" in done.stdout
    assert os.path.join("examples", "hello", "train.py") in done.stdout


@pytest.mark.parametrize(
    "command",
    [["run"], ["run", "--dry-run"], ["config"], ["sbatch", "-p", "any"], ["pipe"]],
    ids=["run", "dry-run", "config", "sbatch", "pipe"],
)
def test_commands_that_act_refuse_a_recipe_with_check_errors(runspec, tmp_path, command):
    script = tmp_path / "bad.py"
    script.write_text(
        '# /// script\n# [tool.runspec]\n# name = "bad"\n# [tool.runspec.resources]\n'
        '# gpus_per_node = "lots"\n# nodes = 0\n# ///\n'
    )
    done = runspec(*command, str(script), cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {script}:5: tool.runspec.resources.gpus_per_node: "
        "must be an integer (got 'lots') (and 1 more; see 'runspec check')\n"
    )
    assert not (tmp_path / ".runspec").exists()


def test_a_config_that_fails_to_resolve_leaves_no_job_folder(runspec, recipes, tmp_path):
    done = runspec("run", str(recipes / "probe.py"), "message=${run.env.nodez}", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "runspec: error: run.env.nodez: no such key (known: executor, gpus_per_node, nodes)\n"
    )
    assert _job_dirs(tmp_path) == []


def test_a_recipe_that_cannot_start_is_recorded_as_such(runspec, tmp_path):
    script = tmp_path / "nocmd.py"
    script.write_text(
        '# /// script\n# [tool.runspec]\n# name = "nocmd"\n# [tool.runspec.run]\n'
        '# launch = "direct"\n# cmd = "no-such-program-xyz {script}"\n'
        '# [tool.runspec.config]\n# format = "json"\n# ///\n'
    )
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text("{}")
    done = runspec("run", str(script), cwd=tmp_path)
    assert done.returncode == 1
    message = "step 1 (nocmd): cannot run 'no-such-program-xyz': No such file or directory"
    assert done.stderr == f"runspec: error: {message}\n"
    [folder] = _job_dirs(tmp_path)
    record = json.loads((folder / "runspec.json").read_text())
    assert record["error"] == message
    assert "exit_code" not in record


def test_a_table_cannot_be_spliced_into_the_command(runspec, tmp_path):
    script = tmp_path / "splice.py"
    script.write_text(
        '# /// script\n# [tool.runspec]\n# name = "splice"\n# [tool.runspec.run]\n'
        '# launch = "direct"\n# cmd = "python {script} ${run.recipe}"\n'
        '# [tool.runspec.config]\n# format = "json"\n# ///\n'
    )
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text("{}")
    done = runspec("run", str(script), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"runspec: error: {script}: tool.runspec.run.cmd: a dict cannot be a command argument (got "
    )
    assert _job_dirs(tmp_path) == []


@pytest.fixture(scope="module")
def python_without_torch(tmp_path_factory) -> Path:
    """A real Python that cannot import torch: a venv without the system's packages."""
    import venv

    folder = tmp_path_factory.mktemp("no-torch")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    return folder / "bin" / "python"


def test_torchrun_without_torch_says_so_before_starting_anything(
    recipes, tmp_path, python_without_torch
):
    argv = [str(python_without_torch), "-m", "runspec", "run", str(recipes / "ranks.py")]
    done = subprocess.run(argv, cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {recipes / 'ranks.py'}: launch 'torchrun' needs torch, which "
        f"{python_without_torch} cannot import (install torch for it, or run runspec with a "
        "Python that has torch)\n"
    )
    assert _job_dirs(tmp_path) == []
    planned = subprocess.run([*argv, "--dry-run"], cwd=tmp_path, env=cli_env(),
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert "-m torch.distributed.run --standalone" in planned.stdout
    assert (
        f"# note: torch is missing: {python_without_torch} cannot import it, so a real run "
        "stops here\n"
    ) in planned.stdout
    assert _job_dirs(tmp_path) == []


# -- nothing left behind: descendants in new sessions, runspec killed ----------------------


def _wait_for(path: Path, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, "runspec ended before the recipe wrote its pids"
        assert time.monotonic() < deadline, "the recipe never wrote its pids"
        time.sleep(0.05)
    return json.loads(path.read_text())


def _gone(pids) -> list[int]:
    """The pids still alive after waiting for them to go (at most 15 seconds)."""
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


def _clean_up(pids) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


ESCAPING = {
    "run-SIGINT": ("run", signal.SIGINT, 130),
    "run-SIGTERM": ("run", signal.SIGTERM, 143),
    "pipe-SIGINT": ("pipe", signal.SIGINT, 130),
    "pipe-SIGTERM": ("pipe", signal.SIGTERM, 143),
}


@pytest.mark.skipif(sys.platform != "linux", reason="a child subreaper is Linux's")
@pytest.mark.parametrize(("command", "sig", "code"), ESCAPING.values(), ids=ESCAPING)
def test_signal_stops_descendants_in_new_sessions(recipes, tmp_path, command, sig, code):
    files = [tmp_path / "first.json", tmp_path / "second.json"]
    script = str(recipes / "escapes.py")
    words = [script, f"pidfile={files[0]}"]
    if command == "pipe":
        words += ["+", script, f"pidfile={files[1]}"]
    argv = [sys.executable, "-m", "runspec", command, *words]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=cli_env(), stderr=subprocess.DEVNULL)
    pids: list[int] = []
    try:
        for path in files[: 2 if command == "pipe" else 1]:
            pids += _wait_for(path, proc).values()
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code
        assert _gone(pids) == []
    finally:
        proc.kill()
        _clean_up(pids)


@pytest.mark.skipif(sys.platform != "linux", reason="a child subreaper is Linux's")
def test_what_a_finished_recipe_left_in_new_sessions_is_stopped(recipes, tmp_path):
    pidfile = tmp_path / "pids.json"
    done = subprocess.run(
        [sys.executable, "-m", "runspec", "run", str(recipes / "escapes.py"),
         f"pidfile={pidfile}", "+then=exit"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    pids = list(json.loads(pidfile.read_text()).values())
    try:
        assert (done.returncode, done.stderr) == (0, "")
        assert _gone(pids) == []
    finally:
        _clean_up(pids)


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_runspec_killed_takes_its_steps_along_and_the_record_says_so(recipes, tmp_path):
    pidfile = tmp_path / "pids.json"
    argv = [sys.executable, "-m", "runspec", "run", str(recipes / "family.py"),
            f"pidfile={pidfile}"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=tmp_path, env=cli_env(), stderr=subprocess.DEVNULL)
    pids: list[int] = []
    try:
        pids = list(_wait_for(pidfile, proc).values())
        proc.kill()
        proc.wait(timeout=60)
        started = json.loads(pidfile.read_text())
        assert _gone([started["recipe"]]) == []
        # What escapes, measured: the recipe's own child outlives it, as docs/running.md says
        # (a recipe that stops its children on SIGTERM, as torchrun does, takes them along).
        assert _alive(started["grandchild"])
    finally:
        _clean_up(pids)
    jobs = subprocess.run([sys.executable, "-m", "runspec", "jobs", "--json"], cwd=tmp_path,
                          env=cli_env(HOME=str(tmp_path)), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    [job] = json.loads(jobs.stdout)
    assert (job["state"], job["exit_code"]) == ("LOST", None)
