"""runspec_extras.nemo_run_executors: env.toml profiles -> the real nemo-run executors.

Each case is a cookbook-style profile; the executor nemo-run builds from it must hold the
listed fields, and the keys it cannot use are warned about.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runspec.errors import MissingExtraError, ProfileError
from tests.nemo_run_support import git, import_nemo_run, make_job, make_repo
from tests.support import require_module

require_module("nemo_run")
import_nemo_run()

pytestmark = pytest.mark.extra

COOKBOOK = """\
[my-cluster]
executor = "slurm"
account = "my-account"
partition = "batch"
run_partition = "interactive"
batch_partition = "batch"
time = "04:00:00"
tunnel = "ssh"
host = "login.cluster.example.com"
user = "me"
identity = "~/keys/id_cluster"
remote_job_dir = "/lustre/fsw/my-account/users/me/run"

[pretrain]
extends = "my-cluster"
nodes = 2
ntasks_per_node = 8
gpus_per_node = 8
mem = "0"
exclusive = true
qos = "normal"
constraint = "h100"
container = "nvcr.io/nvidia/nemo:25.07"
mounts = ["/lustre:/lustre"]
startup_commands = ["source /opt/env.sh"]
srun_args = ["--mpi=pmix"]
sbatch = { reservation = "hackathon", requeue = true, hold = false }

[pretrain.env_vars]
NCCL_DEBUG = "WARN"

[laptop]
executor = "local"
nproc_per_node = 2

[workstation]
executor = "docker"
container_image = "nvcr.io/nvidia/pytorch:24.05-py3"
gpus_per_node = 2
nproc_per_node = 2
mounts = ["/data:/data"]
runtime = "nvidia"
ipc_mode = "host"
shm_size = "16g"
partition = "ignored"

[dgx]
executor = "dgxcloud"
base_url = "https://dgx.example.com/api/v1"
kube_apiserver_url = "https://k8s.example.com"
app_id = "my-app"
app_secret = "s3cr3t-value"
project_name = "nemotron"
container_image = "nvcr.io/nvidia/nemo:25.07"
pvc_nemo_run_dir = "/workspace/nemo-run"
pvcs = [{ name = "workspace", path = "/workspace", claimName = "ws-claim" }]
nodes = 2
gpus_per_node = 8

[lepton]
executor = "lepton"
container_image = "nvcr.io/nvidia/nemo:25.07"
nemo_run_dir = "/shared/nemo-run"
resource_shape = "gpu.8xh100-80gb"
node_group = "my-node-group"
nodes = 2
gpus_per_node = 8
mounts = ["/shared/data:/data"]
mount_from = "node-nfs:lepton-shared-fs"
startup_commands = ["pip install -e ."]
account = "unused"
"""


@pytest.fixture(autouse=True)
def nemo_run_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """nemo-run's home folder in tmp: nothing may land in the real one."""
    import nemo_run.config

    home = tmp_path / "nemo-run-home"
    monkeypatch.setenv("NEMORUN_HOME", str(home))
    saved = nemo_run.config.get_nemorun_home()
    nemo_run.config.set_nemorun_home(str(home))
    yield home
    nemo_run.config.set_nemorun_home(saved)


def build(
    tmp_path: Path, profile: str, *overrides: str, launch: str = "torchrun", **kw: Any
) -> Any:
    from runspec_extras.nemo_run_executors import prepare

    script = tmp_path / "repo" / "recipes" / "train.py"
    if not script.exists():
        script = make_repo(tmp_path / "repo", launch=launch)
    job = make_job(script, COOKBOOK, profile, *overrides)
    warnings: list[str] = []
    prepared = prepare(job, tmp_path / "ship", warn=warnings.append, **kw)
    return prepared.executor, warnings


def fields(executor: Any, names: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(executor, name) for name in names}


CASES = [
    pytest.param(
        "pretrain", {}, "SlurmExecutor",
        {
            "account": "my-account", "partition": "interactive", "nodes": 2,
            "ntasks_per_node": 8, "gpus_per_node": 8, "torchrun_nproc_per_node": 8,
            "time": "04:00:00", "mem": "0", "exclusive": True, "qos": "normal",
            "constraint": "h100", "container_image": "nvcr.io/nvidia/nemo:25.07",
            "container_mounts": ["/lustre:/lustre"], "setup_lines": "source /opt/env.sh",
            "srun_args": ["--mpi=pmix"],
            "additional_parameters": {"reservation": "hackathon", "requeue": True},
            "env_vars": {"RECIPE_GREETING": "hello", "NCCL_DEBUG": "WARN"},
            "job_name_prefix": "runspec-", "poll_estimated_start_time": True,
        },
        [],
        id="slurm-cookbook-attached",
    ),
    pytest.param(
        "pretrain", {"detached": True}, "SlurmExecutor",
        {"partition": "batch", "poll_estimated_start_time": False}, [],
        id="slurm-detached-batch-partition",
    ),
    pytest.param(
        "laptop", {}, "LocalExecutor",
        {"nodes": 1, "ntasks_per_node": 2, "env_vars": {"RECIPE_GREETING": "hello"}},
        [], id="local-nproc",
    ),
    pytest.param(
        "workstation", {}, "DockerExecutor",
        {
            "container_image": "nvcr.io/nvidia/pytorch:24.05-py3", "num_gpus": 2,
            "ntasks_per_node": 2, "volumes": ["/data:/data"], "runtime": "nvidia",
            "ipc_mode": "host", "shm_size": "16g",
        },
        ["run.env.partition: not used by the docker executor (ignored)"],
        id="docker",
    ),
    pytest.param(
        "dgx", {}, "DGXCloudExecutor",
        {
            "base_url": "https://dgx.example.com/api/v1",
            "kube_apiserver_url": "https://k8s.example.com", "client_id": "my-app",
            "client_secret": "s3cr3t-value", "project_name": "nemotron",
            "container_image": "nvcr.io/nvidia/nemo:25.07",
            "pvc_nemo_run_dir": "/workspace/nemo-run", "nodes": 2, "gpus_per_node": 8,
            "nprocs_per_node": 8,
            "pvcs": [{"name": "workspace", "path": "/workspace", "claimName": "ws-claim"}],
        },
        [], id="dgxcloud-cookbook-names",
    ),
    pytest.param(
        "lepton", {}, "LeptonExecutor",
        {
            "container_image": "nvcr.io/nvidia/nemo:25.07", "nemo_run_dir": "/shared/nemo-run",
            "resource_shape": "gpu.8xh100-80gb", "node_group": "my-node-group", "nodes": 2,
            "gpus_per_node": 8, "nprocs_per_node": 8,
            "mounts": [
                {"path": "/shared/data", "mount_path": "/data", "from": "node-nfs:lepton-shared-fs"}
            ],
            "pre_launch_commands": ["pip install -e ."],
        },
        ["run.env.account: not used by the lepton executor (ignored)"],
        id="lepton",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "options", "kind", "expected", "warned"), CASES)
def test_profile_to_executor(
    tmp_path: Path,
    profile: str,
    options: dict[str, Any],
    kind: str,
    expected: dict[str, Any],
    warned: list[str],
) -> None:
    executor, warnings = build(tmp_path, profile, **options)
    assert type(executor).__name__ == kind
    assert fields(executor, expected) == expected
    assert warnings == warned


def test_ssh_tunnel_from_cookbook_keys(tmp_path: Path) -> None:
    executor, _ = build(tmp_path, "pretrain")
    tunnel = executor.tunnel
    assert type(tunnel).__name__ == "SSHTunnel"
    assert (tunnel.host, tunnel.user, tunnel.identity, tunnel.job_dir) == (
        "login.cluster.example.com", "me", "~/keys/id_cluster",
        "/lustre/fsw/my-account/users/me/run",
    )  # fmt: skip


def test_local_tunnel_keeps_jobs_in_the_given_folder(tmp_path: Path) -> None:
    executor, _ = build(
        tmp_path, "pretrain", "run.env.tunnel=local", "~run.env.remote_job_dir",
        tunnel_dir=str(tmp_path / "jobs"),
    )  # fmt: skip
    assert type(executor.tunnel).__name__ == "LocalTunnel"
    assert executor.tunnel.job_dir == str(tmp_path / "jobs")


def test_launchers_by_launch_method(tmp_path: Path) -> None:
    torchrun, _ = build(tmp_path / "a", "pretrain", launch="torchrun")
    ray, _ = build(tmp_path / "b", "pretrain", launch="ray")
    direct, _ = build(tmp_path / "c", "pretrain", launch="direct")
    local_ray, _ = build(tmp_path / "d", "laptop", launch="ray")
    assert type(torchrun.launcher).__name__ == "Torchrun"
    assert type(ray.launcher).__name__ == "SlurmRay"
    assert direct.launcher is None and local_ray.launcher is None
    assert direct.torchrun_nproc_per_node is None


def test_recipe_image_when_the_profile_has_none(tmp_path: Path) -> None:
    from runspec_extras.nemo_run_executors import build_executor

    script = make_repo(tmp_path / "repo", image="nvcr.io/nvidia/pytorch:24.05-py3")
    job = make_job(script, '[box]\nexecutor = "docker"\n', "box")
    assert build_executor(job, staging=tmp_path / "shipped").container_image == "nvcr.io/nvidia/pytorch:24.05-py3"


def test_overrides_reach_the_executor(tmp_path: Path) -> None:
    executor, _ = build(tmp_path, "pretrain", "run.env.nodes=4", "run.env.nproc_per_node=2")
    assert (executor.nodes, executor.torchrun_nproc_per_node) == (4, 2)


def test_local_gpus_count_only_when_asked_or_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    asked, _ = build(tmp_path / "a", "laptop", "~run.env.nproc_per_node", "run.env.gpus_per_node=3")
    default, _ = build(tmp_path / "b", "laptop", "~run.env.nproc_per_node")
    assert (asked.ntasks_per_node, default.ntasks_per_node) == (3, 1)


MISSING = [
    pytest.param(
        '[c]\nexecutor = "slurm"\n', "run.env.account: the slurm executor needs it; set it in the profile",
        id="slurm-account",
    ),
    pytest.param(
        '[c]\nexecutor = "docker"\n', "run.env.container_image: the docker executor needs it; set it in the profile",
        id="docker-image",
    ),
    pytest.param(
        '[c]\nexecutor = "lepton"\ncontainer_image = "i"\nnemo_run_dir = "/d"\n',
        "run.env: the lepton executor needs resource_shape, node_group; set them in the profile",
        id="lepton-several",
    ),
    pytest.param(
        '[c]\nexecutor = "dgxcloud"\nbase_url = "u"\nkube_apiserver_url = "k"\nproject_name = "p"\n'
        'pvc_nemo_run_dir = "/p"\ncontainer_image = "i"\napp_id = "a"\n',
        "run.env.client_secret: the dgxcloud executor needs it; set it in the profile",
        id="dgxcloud-secret",
    ),
    pytest.param(
        '[c]\nexecutor = "slurm"\naccount = "a"\ntunnel = "ssh"\nhost = "h"\n',
        "run.env.tunnel: an ssh tunnel needs user, remote_job_dir; set them in the profile",
        id="ssh-tunnel",
    ),
    pytest.param(
        '[c]\nexecutor = "lepton"\ncontainer_image = "i"\nnemo_run_dir = "/d"\nresource_shape = "r"\n'
        'node_group = "g"\nmounts = ["/a:/b"]\n',
        "run.env.mount_from: lepton mounts need the storage they come from; set mount_from",
        id="lepton-mount-source",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("env_toml", "message"), MISSING)
def test_missing_required_keys(tmp_path: Path, env_toml: str, message: str) -> None:
    from runspec_extras.nemo_run_executors import build_executor

    script = make_repo(tmp_path / "repo")
    job = make_job(script, env_toml, "c")
    with pytest.raises(ProfileError) as caught:
        build_executor(job, staging=tmp_path / "shipped")
    assert str(caught.value) == message


def test_one_machine_executors_warn_about_nodes(tmp_path: Path) -> None:
    _, warnings = build(tmp_path, "workstation", "run.env.nodes=2")
    assert warnings == [
        "run.env.partition: not used by the docker executor (ignored)",
        "run.env.nodes: the docker executor runs on one machine (got 2)",
    ]


CODE = [
    pytest.param(None, "GitArchivePackager", id="default-git-archive"),
    pytest.param("snapshot", "WorkTreePackager", id="snapshot-work-tree"),
    pytest.param("live", "Packager", id="live-nothing-shipped"),
]


@pytest.mark.parametrize(("code", "packager"), CODE)
def test_code_packaging(tmp_path: Path, code: str | None, packager: str) -> None:
    overrides = [f"run.env.code={code}"] if code else []
    executor, _ = build(tmp_path, "workstation", *overrides)
    assert type(executor.packager).__name__ == packager


def test_git_archive_warns_about_uncommitted_changes(tmp_path: Path) -> None:
    script = make_repo(tmp_path / "repo")
    script.write_text(script.read_text() + "# changed\n")
    _, warnings = build(tmp_path, "workstation")
    assert warnings[-1] == (
        f"{(tmp_path / 'repo').resolve()} has uncommitted changes; the job gets the last "
        'commit (code = "snapshot" ships the work tree as it is)'
    )


def test_outside_git_the_code_must_be_live(tmp_path: Path) -> None:
    from runspec_extras.nemo_run_executors import build_executor

    script = make_repo(tmp_path / "plain", commit=False)
    job = make_job(script, '[box]\nexecutor = "docker"\ncontainer_image = "i"\n', "box")
    with pytest.raises(ProfileError) as caught:
        build_executor(job, staging=tmp_path / "shipped")
    assert str(caught.value) == (
        f"run.env.code: the docker executor ships the recipe's code from its git repository, "
        f'and {script} is not in one (set code = "live" to run the files where they are)'
    )


def test_work_tree_packager_ships_uncommitted_files(tmp_path: Path) -> None:
    import tarfile

    from runspec_extras.nemo_run_executors.packagers import WorkTreePackager

    root = tmp_path / "repo"
    make_repo(root)
    (root / "new.py").write_text("print('new')\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "noise.log").write_text("x\n")
    git(root, "rm", "-q", "--cached", "recipes/config/default.json")
    out = WorkTreePackager(root=str(root)).package(root, str(tmp_path), "code")
    with tarfile.open(out) as archive:
        names = sorted(archive.getnames())
    assert names == [".gitignore", "new.py", "recipes/config/default.json", "recipes/train.py"]


def test_skypilot_fields_without_skypilot(tmp_path: Path) -> None:
    """The mapping is plain data; building the executor needs SkyPilot itself."""
    from runspec_extras.nemo_run_executors import ExecutorRequest, executor_fields

    script = make_repo(tmp_path / "repo", launch="torchrun")
    env_toml = """\
[sky]
executor = "skypilot"
container_image = "nvcr.io/nvidia/nemo:25.07"
cloud = "kubernetes"
gpus = "H100"
gpus_per_node = 8
nodes = 2
cluster_name = "nemotron"
mounts = ["/home/me/data:/data"]
setup = ["pip install -e ."]
"""
    request = ExecutorRequest.from_job(make_job(script, env_toml, "sky"))
    assert executor_fields(request) == {
        "container_image": "nvcr.io/nvidia/nemo:25.07", "num_nodes": 2,
        "env_vars": {"RECIPE_GREETING": "hello"}, "cloud": "kubernetes", "gpus": "H100",
        "cluster_name": "nemotron", "gpus_per_node": 8, "torchrun_nproc_per_node": 8,
        "file_mounts": {"/data": "/home/me/data"}, "setup": "pip install -e .",
    }  # fmt: skip


def test_skypilot_needs_its_package(tmp_path: Path) -> None:
    import importlib.util

    from runspec_extras.nemo_run_executors import build_executor

    if importlib.util.find_spec("sky") is not None:
        pytest.skip("SkyPilot is installed here")  # CI never installs it (see docs/nemo-run.md)
    script = make_repo(tmp_path / "repo")
    job = make_job(script, '[sky]\nexecutor = "skypilot"\n', "sky")
    with pytest.raises(MissingExtraError) as caught:
        build_executor(job, staging=tmp_path / "shipped")
    assert str(caught.value) == (
        "executor: executor 'skypilot' needs nemo-run's skypilot support: "
        "pip install 'nemo-run[skypilot]'"
    )
