"""From data to model: two recipes of examples/artifacts/ run for real, lineage joins them.

The data-prep recipe publishes ``data``; the training recipe's YAML config takes
``run.data: data:latest`` and ``${art:data,path}``, runs as 2 torchrun processes on CPU
(rank 0 resolves the reference for both) and publishes ``model``; ``runspec artifacts
lineage model`` shows model <- data with both job folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import REPO, require_module

ENV_TOML = """\
[artifacts]
root = "registry"

[local]
executor = "local"
nproc_per_node = 2
job_dir = "jobs"
"""


def runspec(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("RUNSPEC_ENV_FILE", "RUNSPEC_ARTIFACTS_ROOT", "RUNSPEC_JOB_DIR", "RANK"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "runspec", *args], cwd=folder, env=env,
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_data_prep_then_training_then_lineage(tmp_path: Path) -> None:
    for module in ("omegaconf", "fsspec", "torch"):
        require_module(module)
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "artifacts", project)
    (project / ".git").mkdir()
    (project / "env.toml").write_text(ENV_TOML)

    prep = runspec(project, "run", "prep.py", "-p", "local")
    assert prep.returncode == 0, prep.stderr
    assert "published data:v1" in prep.stdout
    train = runspec(project, "run", "train.py", "-p", "local")
    assert train.returncode == 0, train.stderr
    assert "torchrun with 2 process(es)" in train.stderr
    assert "published model:v1" in train.stdout
    (prep_dir,) = _job_dirs(project, "prep")
    (train_dir,) = _job_dirs(project, "train")

    assert len(list((train_dir / "artifacts" / "resolved").iterdir())) == 1
    (used,) = (train_dir / "artifacts" / "used").iterdir()
    assert json.loads(used.read_text())["name"] == "data"

    done = runspec(project, "artifacts", "lineage", "model", "--json")
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    assert (tree["ref"], tree["job_dir"]) == ("model:v1", str(train_dir))
    (data,) = tree["inputs"]
    assert (data["ref"], data["job_dir"], data["inputs"]) == ("data:v1", str(prep_dir), [])
    text = runspec(project, "artifacts", "lineage", "model").stdout.splitlines()
    assert text == [
        f"model:v1  {tree['created_at']}  job {train_dir}",
        f"└── data:v1  {data['created_at']}  job {prep_dir}",
    ]
    shown = json.loads(runspec(project, "artifacts", "show", "model", "--json").stdout)
    assert shown["metadata"]["data"] == "v1"
    assert shown["producer"]["record"]["profile"] == "local"


def _job_dirs(project: Path, recipe: str) -> list[Path]:
    jobs = project / "jobs"
    found = (path.parent for path in jobs.rglob("runspec.json"))
    return [folder for folder in found if f"artifacts-{recipe}" in str(folder.relative_to(jobs))]
