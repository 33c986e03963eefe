"""env.toml's [wandb] reaches every job as WANDB_* variables; the API key never a file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from runspec.tracking import forwarded_secrets, wandb_variables
from tests.support import REPO, block

KEY = "local-0123456789abcdef0123456789abcdef01234567"
ENV_TOML = """\
[wandb]
entity = "team"
project = "nemotron"
tags = ["a", "b"]
group = "sweep-1"
mode = "offline"

[local]
executor = "local"
gpus_per_node = 0
job_dir = "jobs"

[cluster]
executor = "slurm"
partition = "debug"
gpus_per_node = 0
job_dir = "jobs"
"""
HEADER = '[tool.runspec]\nname = "probe"\nrun = { launch = "direct" }\nconfig = { format = "json" }\n'
RECIPE = block(HEADER) + """\
import hashlib, json, os
names = ["WANDB_ENTITY", "WANDB_PROJECT", "WANDB_TAGS", "WANDB_RUN_GROUP", "WANDB_MODE"]
seen = {name: os.environ.get(name) for name in names}
seen["key_sha256"] = hashlib.sha256(os.environ.get("WANDB_API_KEY", "").encode()).hexdigest()
with open(os.path.join(os.environ["RUNSPEC_JOB_DIR"], "seen.json"), "w") as handle:
    json.dump(seen, handle)
"""
EXPECTED = {
    "WANDB_ENTITY": "team", "WANDB_PROJECT": "nemotron", "WANDB_TAGS": "a,b",
    "WANDB_RUN_GROUP": "sweep-1", "WANDB_MODE": "offline",
    "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
}  # fmt: skip


def project(tmp_path: Path, extra: str = "") -> Path:
    """A project with the env.toml above and the probe recipe; job folders under jobs/."""
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "env.toml").write_text(ENV_TOML + extra)
    (tmp_path / "probe.py").write_text(RECIPE)
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "default.json").write_text("{}")
    return tmp_path


def runspec(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_API_KEY": KEY}
    env.pop("RUNSPEC_ENV_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args], cwd=folder, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def no_file_holds_the_key(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


def test_a_local_job_gets_the_variables_and_the_key_from_the_environment(tmp_path: Path) -> None:
    folder = project(tmp_path)
    done = runspec(folder, "run", "probe.py", "-p", "local")
    assert done.returncode == 0, done.stderr
    (seen,) = (tmp_path / "jobs").rglob("seen.json")
    assert json.loads(seen.read_text()) == EXPECTED
    no_file_holds_the_key(tmp_path / "jobs")
    assert KEY not in done.stdout + done.stderr


def test_the_batch_script_exports_the_settings_but_never_the_key(tmp_path: Path) -> None:
    done = runspec(project(tmp_path), "sbatch", "probe.py", "-p", "cluster")
    assert done.returncode == 0, done.stderr
    assert "WANDB_PROJECT=nemotron" in done.stdout and "WANDB_TAGS=a,b" in done.stdout
    assert KEY not in done.stdout and "WANDB_API_KEY" not in done.stdout


def test_a_profiles_env_vars_win(tmp_path: Path) -> None:
    folder = project(tmp_path)
    with (folder / "env.toml").open("a") as handle:
        handle.write('\n[local.env_vars]\nWANDB_PROJECT = "mine"\n')
    done = runspec(folder, "run", "probe.py", "-p", "local")
    assert done.returncode == 0, done.stderr
    (seen,) = (tmp_path / "jobs").rglob("seen.json")
    assert json.loads(seen.read_text())["WANDB_PROJECT"] == "mine"


@pytest.mark.parametrize("key", ["api_key", "key"])
def test_a_key_in_env_toml_is_refused(tmp_path: Path, key: str) -> None:
    folder = project(tmp_path)
    text = (folder / "env.toml").read_text().replace('mode = "offline"', f'mode = "offline"\n{key} = "{KEY}"')
    (folder / "env.toml").write_text(text)
    done = runspec(folder, "run", "probe.py", "-p", "local")
    assert done.returncode == 1
    assert done.stderr == (
        f"runspec: error: wandb.{key}: do not keep the W&B API key in env.toml: export "
        "WANDB_API_KEY where you submit, or run 'wandb login' where the job runs\n"
    )


def test_wandb_variables_table() -> None:
    assert wandb_variables({"project": "p", "tags": ["x"], "mode": None, "unknown": 1}) == {
        "WANDB_PROJECT": "p", "WANDB_TAGS": "x",
    }  # fmt: skip
    assert wandb_variables(None) == {}


def test_a_key_that_cannot_travel_over_ssh_is_refused_before_connecting(tmp_path: Path) -> None:
    login = (
        '\n[login]\nexecutor = "slurm"\npartition = "debug"\ngpus_per_node = 0\n'
        f'tunnel = "ssh"\nhost = "nohost.invalid"\nremote_job_dir = "{tmp_path}/remote"\n'
    )
    (tmp_path / "project").mkdir()
    folder = project(tmp_path / "project", login)
    home = Path(tempfile.mkdtemp(prefix="rs-home-"))  # short: ssh's socket path must fit
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home), "WANDB_API_KEY": "abc\ndef"}
    env.pop("RUNSPEC_ENV_FILE", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runspec", "submit", "probe.py", "-p", "login"], cwd=folder,
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (
            "runspec: error: cannot pass WANDB_API_KEY to the job: its value holds a line break\n"
        )
        assert not list((home / ".runspec" / "jobs").iterdir())
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_only_the_forwarded_secrets_travel() -> None:
    environ = {"WANDB_API_KEY": KEY, "HF_TOKEN": "hf", "WANDB_PROJECT": "p"}
    assert forwarded_secrets(environ) == {"WANDB_API_KEY": KEY}
    assert forwarded_secrets({"WANDB_API_KEY": ""}) == {}


def test_nemo_run_executors_get_the_variables_too(tmp_path: Path) -> None:
    """nemo-run jobs get [wandb] through the executor's env_vars; a profile's still win."""
    from runspec_extras.nemo_run_executors.request import ExecutorRequest
    from tests.nemo_run_support import make_job, make_repo

    script = make_repo(tmp_path)
    profiles = '\n[laptop]\nexecutor = "local"\n[laptop.env_vars]\nWANDB_RUN_GROUP = "mine"\n'
    request = ExecutorRequest.from_job(make_job(script, ENV_TOML + profiles, "laptop"))
    assert {k: v for k, v in request.env_vars.items() if k.startswith("WANDB_")} == {
        "WANDB_ENTITY": "team", "WANDB_PROJECT": "nemotron", "WANDB_TAGS": "a,b",
        "WANDB_RUN_GROUP": "mine", "WANDB_MODE": "offline",
    }  # fmt: skip
    assert "WANDB_API_KEY" not in request.env_vars


def test_every_step_of_a_pipeline_gets_the_variables_and_the_key(tmp_path: Path) -> None:
    folder = project(tmp_path)
    done = runspec(folder, "pipe", "-p", "local", "probe.py", "+", "probe.py")
    assert done.returncode == 0, done.stderr
    seen = sorted((tmp_path / "jobs").rglob("seen.json"))
    assert len(seen) == 2
    assert [json.loads(path.read_text()) for path in seen] == [EXPECTED, EXPECTED]
    no_file_holds_the_key(tmp_path / "jobs")
    assert KEY not in done.stdout + done.stderr
