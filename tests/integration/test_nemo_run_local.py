"""Recipes run end to end through nemo-run's LocalExecutor, with the real nemo-run and torch.

Each test runs ``python -m runspec`` in a fresh interpreter from a recipe repository in tmp,
with nemo-run's home folder (``NEMORUN_HOME``) in tmp too: nothing lands in the real one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nemo_run_support import make_repo
from tests.support import cli_env, require_module

pytestmark = pytest.mark.extra

TORCHRUN = """\
import argparse, json, os
import torch
import torch.distributed as dist
parser = argparse.ArgumentParser()
parser.add_argument("--config")
options, rest = parser.parse_known_args()
config = json.load(open(options.config))
dist.init_process_group("gloo")
total = torch.tensor([float(dist.get_rank())])
dist.all_reduce(total)
print(f"rank {dist.get_rank()} of {dist.get_world_size()} sum {total.item():g} "
      f"lr {config['train']['lr']} args {rest}", flush=True)
dist.destroy_process_group()
"""

FAILING = """\
import sys
print("about to fail", flush=True)
sys.exit(3)
"""

ENV_TOML = """\
[tracked]
executor = "local"
launcher = "nemo-run"

[tracked.env_vars]
NCCL_DEBUG = "WARN"

[two]
executor = "local"
nproc_per_node = 2
"""


def runspec(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(NEMORUN_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def record(repo: Path) -> tuple[Path, dict[str, object]]:
    [folder] = sorted((repo / ".runspec" / "jobs").iterdir())
    return folder, json.loads((folder / "runspec.json").read_text())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_module("nemo_run")
    return tmp_path / "repo"


def test_direct_recipe_through_the_profile_launcher(repo: Path, tmp_path: Path) -> None:
    """A YAML recipe: the job config is saved and shipped as YAML, overrides applied."""
    require_module("omegaconf")
    make_repo(repo, launch="direct", format="yaml")
    (repo / "env.toml").write_text(ENV_TOML)
    home = tmp_path / "nemo-run-home"
    done = runspec(repo, home, "run", "recipes/train.py", "-p", "tracked", "train.lr=0.25",
                   "--", "--flag")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "rank" in line]
    assert lines == [
        "demo-train/0 rank - lr 0.25 greeting hello nccl WARN args ['--flag']"
    ]
    folder, saved = record(repo)
    assert (folder / "config.yaml").read_text().startswith("train:\n  lr: 0.25\n  steps: 2\n")
    assert (saved["executor"], saved["launcher"], saved["exit_code"]) == ("local", "nemo-run", 0)
    details = saved["nemo_run"]
    assert isinstance(details, dict) and details["state"] == "SUCCEEDED"
    assert str(saved["job_id"]).startswith("local_persistent://nemo_run/demo-train-")
    assert Path(str(details["folder"])).is_relative_to(home / "experiments" / "demo-train")


def test_torchrun_recipe_two_processes_via_nemo_run(repo: Path, tmp_path: Path) -> None:
    require_module("torch")
    make_repo(repo, launch="torchrun", code=TORCHRUN)
    (repo / "env.toml").write_text(ENV_TOML)
    home = tmp_path / "nemo-run-home"
    done = runspec(repo, home, "run", "recipes/train.py", "-p", "two", "--via", "nemo-run",
                   "train.lr=0.5", "--", "--seed", "7")  # fmt: skip
    assert done.returncode == 0, done.stderr
    ranks = sorted(line.split(":", 1)[1] for line in done.stdout.splitlines() if " sum " in line)
    assert ranks == [
        "rank 0 of 2 sum 1 lr 0.5 args ['--seed', '7']",
        "rank 1 of 2 sum 1 lr 0.5 args ['--seed', '7']",
    ]
    _, saved = record(repo)
    assert (saved["launcher"], saved["exit_code"]) == ("nemo-run", 0)


def test_a_failing_recipe_fails_the_run(repo: Path, tmp_path: Path) -> None:
    make_repo(repo, launch="direct", code=FAILING)
    (repo / "env.toml").write_text(ENV_TOML)
    done = runspec(repo, tmp_path / "home", "run", "recipes/train.py", "-p", "tracked")
    assert done.returncode == 1
    _, saved = record(repo)
    details = saved["nemo_run"]
    assert isinstance(details, dict)
    assert done.stderr.endswith(
        f"runspec: demo-train ended FAILED in nemo-run; logs: {details['folder']}\n"
    )
    assert (saved["exit_code"], details["state"]) == (1, "FAILED")


def test_dry_run_of_a_local_job_writes_nothing(repo: Path, tmp_path: Path) -> None:
    make_repo(repo, launch="torchrun")
    (repo / "env.toml").write_text(ENV_TOML)
    home = tmp_path / "home"
    done = runspec(repo, home, "run", "recipes/train.py", "-p", "two", "--via", "nemo-run",
                   "--dry-run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "# nemo-run dry run (LocalExecutor)\n" in done.stdout
    assert re.search(r"'--nproc-per-node',\s+'2',", done.stdout)
    assert not (repo / ".runspec").exists() and not home.exists()
