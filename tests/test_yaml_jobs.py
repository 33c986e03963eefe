"""YAML and OmegaConf recipes end to end on this machine: the job folder keeps
``config.yaml``, the recipe is called with it, startup commands run first.

The same recipe runs on the real Slurm cluster in tests/integration/test_cookbook_slurm.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, require_module

RECIPE = REPO / "tests" / "data" / "cookbook_jobs" / "report.py"


@pytest.fixture(autouse=True)
def _extras() -> None:
    require_module("omegaconf")
    require_module("yaml")


def _only_job(tmp_path: Path) -> Path:
    [folder] = (tmp_path / ".runspec" / "jobs").iterdir()
    return folder


def test_the_job_folder_keeps_config_yaml_and_the_recipe_gets_it(
    runspec: Callable[..., Any], tmp_path: Path
) -> None:
    done = runspec("run", str(RECIPE), "steps=20", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = _only_job(tmp_path)
    report = json.loads(done.stdout)
    assert report == {
        "path": str(folder / "config.yaml"),
        "same_as_env": True,
        "greeting": "hello from cookbook-tests/report",
        "data": "tiny-data:latest",
        "startup": "",
    }
    assert sorted(path.name for path in folder.iterdir()) == [
        "config.yaml", "runspec.json", "stderr.log", "stdout.log",
    ]
    from runspec_extras.omegaconf_config import load_config

    saved = load_config(folder / "config.yaml")
    shown = runspec("config", str(RECIPE), "steps=20", "--json", cwd=tmp_path)
    expected = json.loads(shown.stdout)
    expected["run"]["job"]["dir"] = saved["run"]["job"]["dir"]
    assert saved == expected
    assert (saved["steps"], saved["home"]) == (20, "${oc.env:HOME}")


def test_a_dry_run_shows_the_yaml_that_would_be_saved(
    runspec: Callable[..., Any], tmp_path: Path
) -> None:
    done = runspec("run", str(RECIPE), "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    head = done.stdout.splitlines()[:3]
    assert head[0].startswith("# job config of cookbook-tests-report: ")
    assert head[0].endswith("-cookbook-tests-report/config.yaml")
    assert head[1:] == ["greeting: hello from cookbook-tests/report", "steps: 10"]
    assert not (tmp_path / ".runspec").exists()


def test_startup_commands_run_before_a_local_job(runspec: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "env.toml").write_text(
        '[dev]\nstartup_commands = ["export STARTED_BY=startup", "echo ready >&2"]\n'
    )
    done = runspec("run", str(RECIPE), "-p", "dev", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["startup"] == "startup"
    assert done.stderr == "runspec: 2 setup line(s) run first (setup, startup_commands)\nready\n"


def test_a_failing_startup_command_stops_the_job(runspec: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "env.toml").write_text('[dev]\nstartup_commands = ["false", "echo never"]\n')
    done = runspec("run", str(RECIPE), "-p", "dev", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "never" not in done.stderr
    assert done.stderr.endswith("runspec: cookbook-tests-report failed with exit code 1\n")
