"""`runspec squash` and `squash = true`: the squash job's script, names, refusals, and jobs
that run from the ``.sqsh`` file.

The squash job itself runs on the Slurm test cluster in
tests/integration/test_toolkit_slurm.py (with a stand-in ``enroot``). Golden files live
in tests/golden/squash/; regenerate them after an intended change and review the diff:

    RUNSPEC_REGEN_GOLDEN=1 python -m pytest tests/test_squash.py
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from runspec.slurm import render_sbatch
from runspec.slurm.images import render_squash
from runspec.slurm.squash import enroot_uri, sqsh_name
from tests.test_slurm_render import make_job

GOLDEN = Path(__file__).parent / "golden" / "squash"

NAMES = [
    ("ngc", "nvcr.io/nvidia/nemo:25.11", "nvcr.io+nvidia+nemo+25.11.sqsh",
     "docker://nvcr.io#nvidia/nemo:25.11"),
    ("docker-hub", "ubuntu:24.04", "ubuntu+24.04.sqsh", "docker://ubuntu:24.04"),
    ("hub-path", "pytorch/pytorch:2.5", "pytorch+pytorch+2.5.sqsh", "docker://pytorch/pytorch:2.5"),
    ("port", "localhost:5000/img:1", "localhost+5000+img+1.sqsh", "docker://localhost:5000#img:1"),
    ("digest", "nvcr.io/a/b@sha256:ab12", "nvcr.io+a+b+sha256+ab12.sqsh",
     "docker://nvcr.io#a/b@sha256:ab12"),
    ("odd", "reg.io/a b/c$d", "reg.io+a_b+c_d.sqsh", "docker://reg.io#a b/c$d"),
]  # fmt: skip


@pytest.mark.parametrize(("image", "name", "uri"), [n[1:] for n in NAMES], ids=[n[0] for n in NAMES])
def test_names_and_uris(image: str, name: str, uri: str) -> None:
    assert sqsh_name(image) == name
    assert enroot_uri(image) == uri


def _squash(force: bool, env: dict | None = None) -> str:  # type: ignore[type-arg]
    settings = env or {"partition": "batch", "batch_partition": "cpu", "account": "acct",
                       "time": "01:00:00", "qos": "low"}  # fmt: skip
    return render_squash(
        "nvcr.io/nvidia/nemo:25.11", PurePosixPath("/cache/sq/nvcr.io+nvidia+nemo+25.11.sqsh"),
        env=settings, folder=PurePosixPath("/jobs/squash-x/20250101-120000"), force=force,
    ).script  # fmt: skip


@pytest.mark.parametrize("force", [False, True], ids=["once", "force"])
def test_squash_script_golden(force: bool) -> None:
    script = _squash(force)
    path = GOLDEN / ("force.sh" if force else "once.sh")
    if os.environ.get("RUNSPEC_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(script, encoding="utf-8")
    assert script == path.read_text(encoding="utf-8")
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_the_profiles_environment_and_startup_commands_come_first() -> None:
    """enroot reads its credentials and cache folders from the environment, and a cluster
    may need a module loaded: the squash job gets the profile's env_vars, setup and
    startup_commands, secrets masked in what is shown."""
    squash = render_squash(
        "nvcr.io/nvidia/nemo:25.11", PurePosixPath("/cache/sq/x.sqsh"),
        env={"partition": "cpu", "setup": "source /etc/profile",
             "startup_commands": ["module load enroot"],
             "env_vars": {"ENROOT_CONFIG_PATH": "/home/me/.enroot", "NGC_API_KEY": "nvapi-x"}},
        folder=PurePosixPath("/jobs/sq"), force=False,
    )  # fmt: skip
    body = squash.script.split("set -euo pipefail\n", 1)[1]
    assert body.startswith(
        "\n# runspec: environment (from the profile)\n"
        "export ENROOT_CONFIG_PATH=/home/me/.enroot\nexport NGC_API_KEY=nvapi-x\n\n"
        "# runspec: setup (from the profile)\nsource /etc/profile\n\n"
        "# runspec: startup commands\nmodule load enroot\n\n# runspec: squash "
    )
    assert squash.masked == squash.script.replace("NGC_API_KEY=nvapi-x", "NGC_API_KEY='********'")


def test_squash_script_runs_enroot_and_moves_the_file_into_place(tmp_path: Path) -> None:
    """The script itself, run by bash with a stand-in enroot: the file appears only whole."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "enroot").write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\nprintf sqsh > "$3"\n'
    )
    (fake / "enroot").chmod(0o755)
    target = tmp_path / "cache" / "x.sqsh"
    script = render_squash(
        "nvcr.io/nvidia/nemo:25.11", PurePosixPath(target), env={}, folder=tmp_path, force=False
    ).script
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "SLURM_JOB_ID": "7"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "sqsh"
    assert sorted(os.listdir(target.parent)) == ["x.sqsh"]  # no partial file left
    assert (fake / "args").read_text().splitlines() == [
        "import", "--output", f"{target}.partial-7", "docker://nvcr.io#nvidia/nemo:25.11",
    ]  # fmt: skip
    again = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert again.stdout == f"runspec: {target} exists already; nothing to do\n"


def test_a_failed_import_leaves_no_file(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "enroot").write_text('#!/bin/sh\nprintf half > "$3"\nexit 3\n')
    (fake / "enroot").chmod(0o755)
    target = tmp_path / "cache" / "x.sqsh"
    script = render_squash(
        "img:1", PurePosixPath(target), env={}, folder=tmp_path, force=False
    ).script
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "SLURM_JOB_ID": "7"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 3
    assert os.listdir(target.parent) == []


# the CLI ----------------------------------------------------------------------------------

ENV_TOML = """\
[cache]
squash_dir = "/cache/sq"

[cluster]
executor = "slurm"
partition = "batch"
job_dir = "{jobs}"

[own-dir]
extends = "cluster"
squash_dir = "${{run.env.job_dir}}/images"

[laptop]
executor = "local"
"""
NO_CACHE = """\
[no-dir]
executor = "slurm"
"""


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "env.toml"
    path.write_text(ENV_TOML.format(jobs=tmp_path / "jobs"))
    return path


def test_dry_run_prints_the_script_and_writes_nothing(cli, env_file: Path, tmp_path: Path) -> None:
    done = cli("squash", "nvcr.io/nvidia/nemo:25.11", "-p", "cluster", "--env-file", env_file, "-d")
    assert done.code == 0, done.err
    assert done.out.startswith("# /cache/sq/nvcr.io+nvidia+nemo+25.11.sqsh\n#!/bin/bash\n")
    assert "#SBATCH --partition=batch\n" in done.out
    assert f"#SBATCH --output={tmp_path}/jobs/squash-nvcr.io+nvidia+nemo+25.11/" in done.out
    assert not (tmp_path / "jobs").exists()


def test_dry_run_masks_secrets(cli, env_file: Path) -> None:
    with env_file.open("a") as env:
        env.write('\n[creds]\nextends = "cluster"\nenv_vars = { NGC_API_KEY = "nvapi-x" }\n')
    done = cli("squash", "img:1", "-p", "creds", "--env-file", env_file, "-d")
    assert done.code == 0, done.err
    assert "export NGC_API_KEY='********'\n" in done.out and "nvapi-x" not in done.out
    shown = cli("squash", "img:1", "-p", "creds", "--env-file", env_file, "-d", "--show-secrets")
    assert "export NGC_API_KEY=nvapi-x\n" in shown.out


JOB_REFERENCES = """\
[cache]
squash_dir = "/cache/sq"

[cluster]
executor = "slurm"
partition = "batch"
job_dir = "{jobs}"
mounts = ["/data/${{run.recipe.name}}:/data"]
env_vars = {{ OUT = "${{run.job.dir}}/out", WHO = "${{run.job.name}} of ${{run.job.profile}}" }}
"""


def test_references_to_the_job_are_to_the_squash_job(cli, env_file: Path, tmp_path: Path) -> None:
    """A profile made for recipes refers to its job and recipe: the squash job has a job
    (its own name, folder and profile) and no recipe, and keys it does not use are not
    its concern."""
    env_file.write_text(JOB_REFERENCES.format(jobs=tmp_path / "jobs"))
    done = cli("squash", "img:1", "-p", "cluster", "--env-file", env_file, "-d")
    assert done.code == 0, done.err
    folder = re.search(r"#SBATCH --output=(\S+)/squash-img\+1-%j.out", done.out)
    assert folder is not None
    assert f"export OUT={folder.group(1)}/out\n" in done.out
    assert "export WHO='squash-img+1 of cluster'\n" in done.out
    with env_file.open("a") as env:
        env.write('setup = "cd ${run.recipe.script}"\n')
    done = cli("squash", "img:1", "-p", "cluster", "--env-file", env_file, "-d")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        f"runspec: error: {env_file}:10: [cluster].setup: run.recipe: no such key (known: "
        "cache, env, job), for the squash job\n"
    )


def test_the_profile_may_name_its_own_folder(cli, env_file: Path, tmp_path: Path) -> None:
    done = cli("squash", "img:1", "-p", "own-dir", "--env-file", env_file, "-d")
    assert done.code == 0, done.err
    assert done.out.startswith(f"# {tmp_path}/jobs/images/img+1.sqsh\n")


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("laptop", "executor: squashing runs a Slurm job: profile 'laptop' has executor "
                   "'local', not 'slurm'"),
        ("no-dir", "run.env.squash_dir: no folder for squashed images: set squash_dir in the "
                   "profile, or in [cache]"),
    ],
    ids=["not-slurm", "no-folder"],
)  # fmt: skip
def test_refusals(cli, env_file: Path, profile: str, message: str) -> None:
    if profile == "no-dir":
        env_file.write_text(NO_CACHE)
    done = cli("squash", "img:1", "-p", profile, "--env-file", env_file)
    assert (done.code, done.out, done.err) == (1, "", f"runspec: error: {message}\n")


BAD_IMAGES = [
    ("sqsh-file", "/images/own.sqsh", "image: '/images/own.sqsh' is a file already, not a "
     "registry image: a squashing profile runs it as it is"),
    ("relative", "./own.sqsh", "image: './own.sqsh' is a file already, not a registry image: "
     "a squashing profile runs it as it is"),
    ("space", "nvcr.io/a b:1", "image: not a registry image name: 'nvcr.io/a b:1' (a name "
     "like nvcr.io/nvidia/nemo:25.11)"),
    ("dollar", "img:$TAG", "image: not a registry image name: 'img:$TAG' (a name like "
     "nvcr.io/nvidia/nemo:25.11)"),
    ("empty", "", "image: not an image name: ''"),
]  # fmt: skip


@pytest.mark.parametrize(("image", "message"), [b[1:] for b in BAD_IMAGES], ids=[b[0] for b in BAD_IMAGES])
def test_images_that_cannot_be_squashed(cli, env_file: Path, image: str, message: str) -> None:
    done = cli("squash", image, "-p", "cluster", "--env-file", env_file, "-d")
    assert (done.code, done.out, done.err) == (1, "", f"runspec: error: {message}\n")


def test_a_profile_is_required(cli) -> None:
    done = cli("squash", "img:1")
    assert done.code == 2
    assert "the following arguments are required: -p/--profile" in done.err


# squash = true ----------------------------------------------------------------------------


def _cached(image_env: dict, cache: dict | None = None) -> str:  # type: ignore[type-arg]
    job = make_job("container.py", {"squash": True, "squash_dir": "/cache/sq", **image_env})
    if cache is not None:
        job.config["run"]["cache"] = cache  # type: ignore[index]
    return render_sbatch(job, repo=Path("/repo")).masked


def test_a_squashing_profile_runs_the_image_from_its_sqsh_file() -> None:
    script = _cached({})
    image = re.search(r"--container-image=(\S+)", script)
    assert image is not None
    recipe_image = re.search(r'image = "([^"]+)"', (Path(__file__).parent / "data" / "slurm"
                                                     / "recipes" / "container.py").read_text())
    assert recipe_image is not None
    sqsh = f"/cache/sq/{sqsh_name(recipe_image.group(1))}"
    assert image.group(1) == sqsh
    assert f"if [ ! -f {sqsh} ]; then\n" in script
    guard = script[script.index("if [ ! -f") :]
    said = subprocess.run(["bash", "-c", guard.split("\nfi\n")[0] + "\nfi"],
                          capture_output=True, text=True)  # fmt: skip
    assert (said.returncode, said.stderr) == (1, (
        f"runspec: {sqsh} is missing: make it with "
        f"'runspec squash {recipe_image.group(1)} -p PROFILE'\n"
    ))


def test_an_image_that_is_a_file_already_is_left_alone() -> None:
    script = _cached({"container_image": "/images/own.sqsh"})
    assert "--container-image=/images/own.sqsh" in script
    assert "if [ ! -f" not in script


def test_the_cache_section_names_the_folder() -> None:
    job = make_job("container.py", {"squash": True})
    job.config["run"]["cache"] = {"squash_dir": "/shared/images"}  # type: ignore[index]
    script = render_sbatch(job, repo=Path("/repo")).masked
    assert "--container-image=/shared/images/" in script


def test_without_the_switch_the_image_is_pulled_as_before() -> None:
    job = make_job("container.py", {"squash_dir": "/cache/sq"})
    assert ".sqsh" not in render_sbatch(job, repo=Path("/repo")).masked


def test_an_image_a_config_names_runs_from_its_sqsh_file(cli, env_file: Path) -> None:
    """The image may come from the job config (here an override) rather than the recipe."""
    import json

    with env_file.open("a") as env:
        env.write('\n[squashing]\nextends = "cluster"\nsquash = true\n')
    recipe = Path(__file__).parent / "data" / "slurm" / "recipes" / "container.py"
    done = cli("run", recipe, "-p", "squashing", "--env-file", env_file, "-d", "--json",
               "run.env.container_image=nvcr.io/nvidia/nemo:25.11")  # fmt: skip
    assert done.code == 0, done.err
    plan = json.loads(done.out)
    assert plan["image"] == "/cache/sq/nvcr.io+nvidia+nemo+25.11.sqsh"
    assert "--container-image=/cache/sq/nvcr.io+nvidia+nemo+25.11.sqsh " in plan["batch_script"]
    assert "'runspec squash nvcr.io/nvidia/nemo:25.11 -p squashing'" in plan["batch_script"]
