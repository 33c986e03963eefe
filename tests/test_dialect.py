"""The cookbook's env.toml dialect and the values runspec builds a job from.

``container``, ``run_partition``/``batch_partition``, ``startup_commands``,
``nproc_per_node``, ``workdir``, ``tunnel``; ``${oc.env:...}`` in the image, mounts,
working folder and job folders; no bind mount over a working folder that lives in the
image. Golden file: tests/golden/slurm/dialect.sh (regenerate with
``RUNSPEC_REGEN_GOLDEN=1 python -m pytest tests/test_dialect.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runspec import ConfigError, parse
from runspec.job import assemble
from tests.support import Result

GOLDEN = Path(__file__).parent / "golden" / "slurm"

RECIPE = """\
# /// script
# [tool.runspec]
# name = "team/train"
# image = "{image}"
#
# [tool.runspec.run]
# launch = "torchrun"
# workdir = "{workdir}"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# nodes = 1
# gpus_per_node = 4
# ///
"""

ENV_TOML = """\
[cluster]
executor = "slurm"
account = "acct"
partition = "fallback"
run_partition = "interactive"
batch_partition = "batch"
job_dir = "/jobs"
startup_commands = ["source /opt/env.sh", "echo 'ready'"]
setup = "module load cuda"

[plain]
executor = "slurm"
partition = "only"
job_dir = "/jobs"

[remote]
extends = "cluster"
tunnel = "ssh"
host = "login.example.com"
user = "me"

[local]
executor = "local"
nproc_per_node = 3
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A recipe folder with env.toml; returns a writer of the recipe and its config."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "env.toml").write_text(ENV_TOML)

    def write(config: dict[str, Any], image: str = "img:1", workdir: str = "/opt/app") -> Path:
        script = tmp_path / "train.py"
        script.write_text(RECIPE.format(image=image, workdir=workdir))
        (tmp_path / "config").mkdir(exist_ok=True)
        (tmp_path / "config" / "default.json").write_text(json.dumps(config))
        return script

    return write


def _partition(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("#SBATCH --partition="))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("sbatch", "-p", "cluster"), "batch"),
        (("run", "-p", "cluster", "--dry-run"), "interactive"),
        (("run", "-r", "cluster", "--dry-run"), "interactive"),
        (("run", "-b", "cluster", "--dry-run"), "batch"),
        (("sbatch", "-p", "plain"), "only"),
        (("run", "-r", "plain", "--dry-run"), "only"),
    ],
    ids=["sbatch", "run-p", "run-r", "run-b", "sbatch-fallback", "run-fallback"],
)
def test_attached_runs_use_run_partition_and_detached_ones_batch_partition(
    cli, project, command, expected
):
    script = project({})
    done = cli(command[0], script, *command[1:])
    assert done.code == 0, done.err
    assert _partition(done.out) == f"#SBATCH --partition={expected}"


def test_sbatch_with_the_dialect(cli, project, tmp_path):
    script = project({"run": {"env": {"container": "cfg:2", "nproc_per_node": 2}}})
    done = cli("sbatch", script, "-p", "cluster")
    assert (done.code, done.err) == (0, "")
    text = done.out.replace(str(tmp_path), "/project")
    text = "\n".join(
        "#SBATCH --output=<job>" if line.startswith("#SBATCH --output=") else
        "#SBATCH --error=<job>" if line.startswith("#SBATCH --error=") else line
        for line in text.splitlines()
    )  # fmt: skip
    import re

    text = re.sub(r"/jobs/team-train/[0-9-]+", "/jobs/team-train/<stamp>", text) + "\n"
    _golden("dialect.sh", text)
    assert "--container-image=cfg:2" in text
    assert "--nproc-per-node=2" in text
    assert subprocess.run(["bash", "-n"], input=done.out, text=True).returncode == 0


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("RUNSPEC_REGEN_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_startup_commands_run_after_setup(cli, project):
    script = project({})
    text = cli("sbatch", script, "-p", "cluster").out
    lines = text.splitlines()
    setup = lines.index("# runspec: setup (from the profile)")
    startup = lines.index("# runspec: startup commands")
    assert lines[setup + 1] == "module load cuda"
    assert lines[startup + 1 : startup + 3] == ["source /opt/env.sh", "echo 'ready'"]
    assert setup < startup < lines.index("# runspec: launch (torchrun)")


def test_nproc_per_node_beats_the_gpu_count_locally(cli, project):
    script = project({})
    done = cli("run", script, "-p", "local", "--dry-run")
    assert done.code == 0, done.err
    assert "# note: torchrun with 3 process(es) (nproc_per_node from the profile local)" in done.out
    assert "--nproc-per-node=3" in done.out


def test_nproc_per_node_beats_the_gpu_count_on_slurm(cli, project):
    script = project({})
    text = cli("sbatch", script, "-p", "cluster", "run.env.nproc_per_node=5").out
    assert "--nproc-per-node=5" in text
    assert "#SBATCH --gpus-per-node=4" in text


@pytest.mark.parametrize(
    ("config", "image", "workdir", "container_workdir", "mounted"),
    [
        ({}, "img:1", "/opt/app", "/opt/app", False),
        ({"run": {"env": {"workdir": "/opt/other"}}}, "img:1", "/opt/app", "/opt/other", False),
        ({}, "img:1", "sub", "<project>/sub", False),
    ],
    ids=["recipe-workdir-in-the-image", "env-workdir", "relative-to-the-recipe"],
)
def test_a_working_folder_the_job_names_is_never_mounted_over(
    cli, project, tmp_path, config, image, workdir, container_workdir, mounted
):
    script = project(config, image=image, workdir=workdir)
    text = cli("sbatch", script, "-p", "plain").out.replace(str(tmp_path), "<project>")
    assert f"--container-workdir={container_workdir}" in text
    mounts = next(part for part in text.split() if part.startswith("--container-mounts="))
    targets = [mount.split(":")[1] for mount in mounts.split("=", 1)[1].split(",")]
    assert (container_workdir in targets) is mounted


def test_env_workdir_without_a_container_is_where_the_job_starts(cli, project, tmp_path):
    script = project({"run": {"env": {"workdir": "/scratch/w"}}}, image="")
    text = cli("sbatch", script, "-p", "plain").out
    assert "cd /scratch/w" in text.splitlines()


def test_a_remote_tunnel_needs_its_remote_job_dir(cli, project, tmp_path):
    script = project({})
    message = (
        "runspec: error: run.env.remote_job_dir: required with tunnel = 'ssh': the folder on"
        " login.example.com that holds the job folders\n"
    )
    for command in (("run", "-p", "remote"), ("run", "-b", "remote"), ("submit", "-p", "remote"),
                    ("sbatch", "-p", "remote"), ("run", "-r", "remote", "--dry-run")):  # fmt: skip
        done = cli(command[0], script, *command[1:])
        assert (done.code, done.err) == (1, message), command
    assert not (tmp_path / ".runspec").exists()
    assert cli("sbatch", script, "-p", "remote", "run.env.remote_job_dir=/lustre/me").code == 0


ENV_VALUES = [
    ("image-set", {"container": "${oc.env:IMG}"}, {"IMG": "nvcr.io/x:1"}, "container", "nvcr.io/x:1"),
    ("image-default", {"container": "${oc.env:IMG,reg/y:2}"}, {}, "container", "reg/y:2"),
    ("quoted-default", {"workdir": "${oc.env:W,'/a b'}"}, {}, "workdir", "/a b"),
    ("null-default", {"container_image": "${oc.env:IMG,null}"}, {}, "container_image", None),
    ("embedded", {"job_dir": "${oc.env:SCRATCH}/jobs"}, {"SCRATCH": "/s"}, "job_dir", "/s/jobs"),
    ("mounts", {"mounts": ["${oc.env:DATA}:/data"]}, {"DATA": "/d"}, "mounts", ["/d:/data"]),
    ("elsewhere-left", {"env_vars": {"X": "${oc.env:HOME}"}}, {}, "env_vars", {"X": "${oc.env:HOME}"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "environ", "key", "value"),
    [case[1:] for case in ENV_VALUES],
    ids=[case[0] for case in ENV_VALUES],
)
def test_oc_env_is_resolved_in_values_runspec_builds_the_job_from(
    project, env, environ, key, value
):
    script = project({"run": {"env": env}, "body": "${oc.env:HOME}"})
    job = assemble(parse(script), environ=environ)
    assert job.env[key] == value
    assert job.config["body"] == "${oc.env:HOME}"


def test_oc_env_in_the_recipe_image(project):
    script = project({}, image="${oc.env:IMG,reg/z:3}")
    job = assemble(parse(script), environ={})
    assert job.config["run"]["recipe"]["image"] == "reg/z:3"
    assert job.image == "reg/z:3"


ENV_ERRORS = [
    ("unset", {"container": "${oc.env:IMG}"},
     "run.env.container: environment variable 'IMG' is not set (used by ${oc.env:IMG};"
     " give a default with ${oc.env:IMG,default})"),
    ("other-interpolation", {"workdir": "${paths.root}/w"},
     "run.env.workdir: cannot resolve ${paths.root}: runspec builds the job from this value"
     " and resolves only ${oc.env:VAR} and ${oc.env:VAR,default} in it"),
    ("nested-default", {"job_dir": "${oc.env:J,${root}}"},
     "run.env.job_dir: cannot resolve ${oc.env:J,${root}}: runspec builds the job from this"
     " value and resolves only ${oc.env:VAR} and ${oc.env:VAR,default} in it"),
    ("unclosed", {"container": "${oc.env:IMG"},
     "run.env.container: unclosed interpolation in '${oc.env:IMG'"),
    ("auto-mount-outside-mounts", {"workdir": "${auto_mount:git+file:///r@main,/x}"},
     "run.env.workdir: cannot resolve ${auto_mount:git+file:///r@main,/x}: runspec builds the"
     " job from this value and resolves only ${oc.env:VAR} and ${oc.env:VAR,default} in it"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"), [case[1:] for case in ENV_ERRORS], ids=[case[0] for case in ENV_ERRORS]
)
def test_other_interpolations_in_those_values_are_errors(project, env, message):
    script = project({"run": {"env": env}})
    with pytest.raises(ConfigError) as caught:
        assemble(parse(script), environ={})
    assert str(caught.value) == message


def test_oc_env_in_the_job_folder_is_resolved_before_the_folder_is_made(
    runspec: Callable[..., Any], project, tmp_path
):
    script = project({"run": {"env": {"job_dir": "${oc.env:MYJOBS}/runs"}}}, image="")
    (tmp_path / "env.toml").write_text("")
    done = runspec(
        "run", str(script), "--dry-run", cwd=tmp_path, env={"MYJOBS": str(tmp_path / "j")}
    )
    assert done.returncode == 0, done.stderr
    assert f"# job config of team-train: {tmp_path}/j/runs/" in done.stdout


def test_cli_names_the_key(cli: Callable[..., Result], project, monkeypatch):
    monkeypatch.delenv("NO_SUCH_IMAGE_VAR", raising=False)
    script = project({"run": {"env": {"container": "${oc.env:NO_SUCH_IMAGE_VAR}"}}})
    done = cli("sbatch", script, "-p", "cluster")
    assert done.code == 1
    assert done.err == (
        "runspec: error: run.env.container: environment variable 'NO_SUCH_IMAGE_VAR' is not set"
        " (used by ${oc.env:NO_SUCH_IMAGE_VAR}; give a default with"
        " ${oc.env:NO_SUCH_IMAGE_VAR,default})\n"
    )
