"""`--dry-run --tree` and `--dry-run --json`: the whole job, planned, nothing written.

Golden files live in tests/golden/dry_run/ (paths and time stamps normalized); after an
intended change, regenerate them and review the diff:

    RUNSPEC_REGEN_GOLDEN=1 python -m pytest tests/test_dry_run_tree.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, cli_env

GOLDEN = REPO / "tests" / "golden" / "dry_run"
ENV_TOML = """\
[cache]
squash_dir = "/cache/images"

[cluster]
executor = "slurm"
partition = "gpu"
account = "research"
time = "01:00:00"
mounts = ["/data:/data:ro"]
job_dir = "/jobs"
squash = true

[cluster.env_vars]
HF_TOKEN = "hf_secret_value"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in ("run", "slurm/recipes"):
        shutil.copytree(REPO / "tests" / "data" / folder, tmp_path / folder.split("/")[0])
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "env.toml").write_text(ENV_TOML)
    # what a job needs and a dry run must not: torch (this one cannot be imported), sbatch
    (tmp_path / "blocked" / "torch").mkdir(parents=True)
    (tmp_path / "blocked" / "torch" / "__init__.py").write_text("raise ImportError('no torch')\n")
    return tmp_path


def _run(project: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(**extra)
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{project / 'blocked'}"
    env["PATH"] = os.pathsep.join(
        part for part in env["PATH"].split(os.pathsep) if not os.path.exists(f"{part}/sbatch")
    )
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args], cwd=project, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _normal(text: str, project: Path) -> str:
    text = text.replace(str(project), "/project").replace(sys.executable, "/usr/bin/python3")
    text = re.sub(r"\d{8}-\d{6}", "20250101-120000", text)
    text = re.sub(r"runspec/code/[0-9a-f]+", "runspec/code/<snapshot>", text)
    return text


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("RUNSPEC_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


CASES = {
    "local-torchrun.txt": ("run/ranks.py", "-c", "default", "+extra.note=1"),
    "slurm-container.txt": ("slurm/container.py", "-p", "cluster", "++train.steps=5"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tree_golden(project: Path, case: str) -> None:
    done = _run(project, "run", *CASES[case], "--dry-run", "--tree")
    assert done.returncode == 0, done.stderr
    _golden(case, _normal(done.stdout, project))
    assert not (project / ".runspec").exists()
    assert "hf_secret_value" not in done.stdout


def test_json_has_every_part(project: Path) -> None:
    done = _run(project, "run", "slurm/container.py", "-p", "cluster", "+api_key=abc", "-d", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert list(plan) == [
        "recipe", "profile", "executor", "resources", "image", "mounts", "job_dir", "config",
        "submit", "batch_script", "notes",
    ]  # fmt: skip
    assert plan["profile"] == {
        "name": "cluster", "chain": ["cluster"], "env_file": str(project / "env.toml"),
    }  # fmt: skip
    assert plan["resources"] == {
        "nodes": 1, "gpus_per_node": 1, "time": "01:00:00", "partition": "gpu",
        "account": "research",
    }  # fmt: skip
    assert plan["image"] == "/cache/images/nvcr.io+nvidia+pytorch+24.01-py3.sqsh"
    assert plan["recipe"]["declared_image"] == "nvcr.io/nvidia/pytorch:24.01-py3"
    assert plan["config"]["overrides"] == ["+api_key=********"]
    assert plan["config"]["values"]["api_key"] == "********"
    assert plan["submit"] == [f"sbatch --parsable {plan['job_dir'].rsplit('/', 1)[0]}/"
                              f"{plan['job_dir'].rsplit('/', 1)[1]}/sbatch.sh"]  # fmt: skip
    assert "export HF_TOKEN='********'\n" in plan["batch_script"]
    shown = _run(project, "run", "slurm/container.py", "-p", "cluster", "+api_key=abc", "-d",
                 "--json", "--show-secrets")  # fmt: skip
    assert json.loads(shown.stdout)["config"]["values"]["api_key"] == "abc"


def test_the_plain_dry_run_is_unchanged(project: Path) -> None:
    done = _run(project, "run", "run/probe.py", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# job config of tests-probe: ")
    assert "\n# command\n" in done.stdout


def test_ascii_where_the_encoding_lacks_box_drawing(project: Path) -> None:
    done = _run(project, "run", "run/probe.py", "-d", "--tree", PYTHONIOENCODING="ascii")
    assert done.returncode == 0, done.stderr
    assert "|-- launch" in done.stdout and "`-- command" in done.stdout
    assert "├" not in done.stdout


def test_tree_and_json_need_a_dry_run(project: Path) -> None:
    for flag in ("--tree", "--json"):
        done = _run(project, "run", "run/probe.py", flag)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (
            "runspec: error: --tree and --json describe a dry run: add -d/--dry-run\n"
        )
