"""``runspec run --dry-run`` through nemo-run: nemo-run's own dry run of cookbook-style
profiles for executors there is nothing to submit to here (Docker, DGX Cloud, Lepton), and of
the Slurm profile of docs/nemo-run.md's worked example, reached over SSH.

The output is compared with golden files after replacing what changes from run to run
(temporary folders, time stamps, nemo-run's experiment ids and random rendezvous ids). To
regenerate them and review the diff:

    RUNSPEC_REGEN_GOLDEN=1 python -m pytest tests/test_nemo_run_dry_run.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.nemo_run_support import import_nemo_run, make_repo
from tests.support import REPO, Result, require_module

require_module("nemo_run")
import_nemo_run()

pytestmark = pytest.mark.extra

GOLDEN = Path(__file__).parent / "golden" / "nemo_run"

ENV_TOML = """\
[workstation]
executor = "docker"
container_image = "nvcr.io/nvidia/pytorch:24.05-py3"
gpus_per_node = 2
nproc_per_node = 2
mounts = ["/data:/data"]
ipc_mode = "host"
shm_size = "16g"

[workstation.env_vars]
HF_TOKEN = "hf_secret_value"

[dgx]
executor = "dgxcloud"
base_url = "https://dgx.example.com/api/v1"
kube_apiserver_url = "https://k8s.example.com"
app_id = "my-app"
app_secret = "s3cr3t-value"
project_name = "nemotron"
container = "nvcr.io/nvidia/nemo:25.07"
pvc_nemo_run_dir = "/workspace/nemo-run"
pvcs = [{ name = "workspace", path = "/workspace", claimName = "ws-claim" }]
nodes = 2
gpus_per_node = 8

[lepton]
executor = "lepton"
container = "nvcr.io/nvidia/nemo:25.07"
nemo_run_dir = "/shared/nemo-run"
resource_shape = "gpu.8xh100-80gb"
node_group = "my-node-group"
nodes = 2
gpus_per_node = 8
mounts = ["/shared/data:/data"]
mount_from = "node-nfs:lepton-shared-fs"
startup_commands = ["pip install -e ."]

[lepton.env_vars]
NCCL_DEBUG = "WARN"

[pretrain]
executor = "slurm"
account = "my-account"
partition = "batch"
run_partition = "interactive"
batch_partition = "batch"
time = "04:00:00"
tunnel = "ssh"
host = "login.cluster.example.com"
user = "me"
remote_job_dir = "/lustre/fsw/my-account/users/me/run"
nodes = 2
gpus_per_node = 8
container = "nvcr.io/nvidia/nemo:25.07"
mounts = ["/lustre:/lustre"]
startup_commands = ["source /opt/env.sh"]
"""

_VARIABLE = [
    (re.compile(r"/tmp/runspec-nemo-run-[^/\s'\"]+"), "<nemo-run-home>"),
    (re.compile(r"\d{8}-\d{6}"), "<stamp>"),
    (re.compile(r"(demo-train)[_-]\d{15,}"), r"\1_<id>"),
    (re.compile(r"id: demo-train-[a-z0-9]+"), "id: demo-train-<id>"),
    (re.compile(r"(- --rdzv-id\n\s+- )'\d+'"), r"\1'<rdzv-id>'"),
    (re.compile(r"--rdzv-id \d+"), "--rdzv-id <rdzv-id>"),
]


def normalized(text: str, tmp_path: Path) -> str:
    text = text.replace(str(tmp_path), "<tmp>")
    for pattern, replacement in _VARIABLE:
        text = pattern.sub(replacement, text)
    return text


@pytest.fixture
def recipe_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    make_repo(repo, launch="torchrun")
    (repo / "env.toml").write_text(ENV_TOML, encoding="utf-8")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("NEMORUN_HOME", str(tmp_path / "nemo-run-home"))
    return repo


@pytest.mark.parametrize("profile", ["workstation", "dgx", "lepton"])
def test_dry_run_golden(
    cli: Callable[..., Result], recipe_repo: Path, tmp_path: Path, profile: str
) -> None:
    result = cli("run", "recipes/train.py", "-p", profile, "--dry-run", "train.lr=0.5", "--", "--x")
    assert (result.code, result.err) == (0, "")
    text = normalized(result.out, tmp_path)
    path = GOLDEN / f"{profile}.txt"
    if os.environ.get("RUNSPEC_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def real(repo: Path, *args: str) -> Result:
    """``python -m runspec ARGS`` in ``repo``: nemo-run's git-archive packager runs git through
    a runner that reads stdin, which pytest's capture refuses in this process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "runspec", *args], cwd=repo, env=env, capture_output=True,
        text=True, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def test_slurm_dry_run_golden(recipe_repo: Path, tmp_path: Path) -> None:
    """``--via nemo-run`` on a Slurm profile: the batch script nemo-run would submit over
    SSH (nothing is connected to), with the partition of an attached run."""
    result = real(recipe_repo, "run", "recipes/train.py", "-p", "pretrain", "--via", "nemo-run",
                  "--dry-run", "train.lr=0.5")  # fmt: skip
    assert (result.code, result.err) == (0, "")
    text = normalized(result.out, tmp_path)
    path = GOLDEN / "slurm.txt"
    if os.environ.get("RUNSPEC_REGEN_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_slurm_dry_run_of_a_batch_job_takes_the_batch_partition(recipe_repo: Path) -> None:
    result = real(recipe_repo, "run", "recipes/train.py", "-b", "pretrain", "--via", "nemo-run",
                  "--dry-run")  # fmt: skip
    assert (result.code, result.err) == (0, "")
    assert "#SBATCH --partition=batch\n" in result.out
    assert "#SBATCH --partition=interactive\n" not in result.out


def test_dry_run_writes_nothing(
    cli: Callable[..., Result], recipe_repo: Path, tmp_path: Path
) -> None:
    before = sorted(p.name for p in Path("/tmp").glob("runspec-nemo-run-*"))
    result = cli("run", "recipes/train.py", "-p", "lepton", "--dry-run")
    assert result.code == 0
    assert sorted(p.name for p in recipe_repo.rglob("*") if ".git" not in p.parts) == [
        "config", "default.json", "env.toml", "recipes", "train.py",
    ]  # fmt: skip
    assert not (tmp_path / "nemo-run-home").exists()
    assert sorted(p.name for p in Path("/tmp").glob("runspec-nemo-run-*")) == before


def test_dry_run_masks_secrets(cli: Callable[..., Result], recipe_repo: Path) -> None:
    docker = cli("run", "recipes/train.py", "-p", "workstation", "--dry-run").out
    dgx = cli("run", "recipes/train.py", "-p", "dgx", "--dry-run").out
    assert "hf_secret_value" not in docker and "HF_TOKEN: ********\n" in docker
    assert "s3cr3t-value" not in dgx and "client_secret='********'" in dgx


def test_dry_run_warns_about_unused_keys(cli: Callable[..., Result], recipe_repo: Path) -> None:
    result = cli(
        "run", "recipes/train.py", "-p", "workstation", "--dry-run", "run.env.partition=gpu"
    )
    assert result.err == "runspec: warning: run.env.partition: not used by the docker executor (ignored)\n"


def test_dry_run_refuses_a_missing_key(cli: Callable[..., Result], recipe_repo: Path) -> None:
    result = cli("run", "recipes/train.py", "-p", "lepton", "--dry-run", "~run.env.node_group")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "runspec: error: run.env.node_group: the lepton executor needs it; set it in the profile\n"
    )


@pytest.mark.parametrize(
    ("override", "warned"),
    [
        ("run.env.node_group=other-group", ""),
        ("run.env.shared_memory_size=32", ""),
        ("run.env.node_gruop=other-group",
         "runspec: warning: run.env.node_gruop: unknown key (did you mean 'node_group'?)\n"),
        ("run.env.account=a",
         "runspec: warning: run.env.account: not used by the lepton executor (ignored)\n"),
    ],
    ids=("executor-key", "executor-only-key", "typo", "runspec-key-unused"),
)  # fmt: skip
def test_dry_run_knows_the_executors_keys_in_overrides(
    cli: Callable[..., Result], recipe_repo: Path, override: str, warned: str
) -> None:
    result = cli("run", "recipes/train.py", "-p", "lepton", "--dry-run", override)
    assert (result.code, result.err) == (0, warned)


def test_a_profile_key_is_reported_once(cli: Callable[..., Result], recipe_repo: Path) -> None:
    env = recipe_repo / "env.toml"
    env.write_text(ENV_TOML + '\n[typo]\nextends = "lepton"\nresource_shap = "x"\n')
    result = cli("run", "recipes/train.py", "-p", "typo", "--dry-run")
    assert (result.code, result.err) == (0, (
        f"runspec: warning: {env}:{ENV_TOML.count(chr(10)) + 4}: [typo].resource_shap: unknown key "
        "(did you mean 'resource_shape'?)\n"
    ))  # fmt: skip


def test_dry_run_shows_secrets_when_asked(cli: Callable[..., Result], recipe_repo: Path) -> None:
    dgx = cli("run", "recipes/train.py", "-p", "dgx", "--dry-run", "--show-secrets").out
    assert "client_secret='s3cr3t-value'" in dgx and '"app_secret": "s3cr3t-value"' in dgx
