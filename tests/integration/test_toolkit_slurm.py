"""The toolkit on a real Slurm cluster: `runspec squash`, `runspec jobs` and `runspec logs`.

enroot cannot be installed here: a stand-in ``enroot`` on PATH (the jobs inherit it)
records its arguments and writes the file it is asked for, so what is tested is the job
runspec submits: where it runs, what it calls enroot with, and where the file lands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_remote import station  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "nvcr.io/nvidia/nemo:25.11"
SQSH = "nvcr.io+nvidia+nemo+25.11.sqsh"
ENROOT = """\
#!/bin/sh
printf '%s\\n' "$@" >> "$(dirname "$0")/enroot-calls"
printf 'squashfs of %s\\n' "$4" > "$3"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "tests" / "data" / "logs", tmp_path / "recipes")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "home").mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "enroot").write_text(ENROOT)
    (tmp_path / "bin" / "enroot").chmod(0o755)
    (tmp_path / "env.toml").write_text(
        f"[cache]\nsquash_dir = {json.dumps(str(tmp_path / 'cache'))}\n\n"
        '[cluster]\nexecutor = "slurm"\npartition = "debug"\ngpus_per_node = 0\n'
        f'time = "10:00"\njob_dir = {json.dumps(str(tmp_path / "jobs"))}\n'
    )
    return tmp_path


def runspec(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return python(project, "-m", "runspec", *args)


def python(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "HOME": str(project / "home"),
        "PATH": f"{project / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }  # fmt: skip
    env.pop("RUNSPEC_ENV_FILE", None)
    return subprocess.run(
        [sys.executable, *args], cwd=project, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def jobs(project: Path) -> dict[str, dict[str, Any]]:
    done = runspec(project, "jobs", "--json")
    assert done.returncode == 0, done.stderr
    return {job["id"]: job for job in json.loads(done.stdout)}


def finished(project: Path, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = jobs(project)[job_id]
        if job["state"] not in ("SUBMITTED", "PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not finish: {job}"
        time.sleep(0.5)


def test_squash_runs_enroot_as_a_job_and_skips_a_file_that_exists(project: Path) -> None:
    done = runspec(project, "squash", IMAGE, "-p", "cluster")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    target = project / "cache" / SQSH
    assert done.stderr == (
        f"runspec: squashing {IMAGE} into {target} as job {job_id}; "
        f"follow it with 'runspec logs {job_id} -f'\n"
    )
    job = finished(project, job_id)
    assert (job["recipe"], job["state"], job["exit_code"], job["where"]) == (
        f"squash {IMAGE}", "COMPLETED", 0, "slurm",
    )  # fmt: skip
    assert target.read_text() == "squashfs of docker://nvcr.io#nvidia/nemo:25.11\n"
    assert (project / "bin" / "enroot-calls").read_text().splitlines() == [
        "import", "--output", f"{target}.partial-{job_id}", "docker://nvcr.io#nvidia/nemo:25.11",
    ]  # fmt: skip
    assert sorted(os.listdir(project / "cache")) == [SQSH]
    logs = runspec(project, "logs", job_id)
    assert logs.stdout == f"runspec: squashed into {target}\n"

    again = runspec(project, "squash", IMAGE, "-p", "cluster")
    assert (again.returncode, again.stdout) == (0, "")
    assert again.stderr == (
        f"runspec: {target} exists already; --force squashes {IMAGE} again\n"
    )

    forced = runspec(project, "squash", IMAGE, "-p", "cluster", "--force")
    assert forced.returncode == 0, forced.stderr
    second = forced.stdout.strip()
    assert finished(project, second)["state"] == "COMPLETED"
    assert (project / "bin" / "enroot-calls").read_text().count("import") == 2


def test_jobs_and_logs_of_slurm_jobs_and_local_runs(project: Path) -> None:
    ok = runspec(project, "submit", "recipes/talk.py", "-p", "cluster", "--wait")
    assert ok.returncode == 0, ok.stderr
    failed = runspec(project, "submit", "recipes/talk.py", "-p", "cluster", "exit=3", "--wait")
    assert failed.returncode == 3, failed.stderr
    local = runspec(project, "run", "recipes/talk.py")
    assert local.returncode == 0, local.stderr
    ok_id, failed_id = ok.stdout.splitlines()[0], failed.stdout.splitlines()[0]
    listed = jobs(project)
    assert {k: (v["state"], v["exit_code"], v["where"]) for k, v in listed.items()} == {
        ok_id: ("COMPLETED", 0, "slurm"),
        failed_id: ("FAILED", 3, "slurm"),
        next(k for k in listed if not k.isdigit()): ("COMPLETED", 0, "local"),
    }
    assert next(iter(listed)) not in (ok_id, failed_id)  # the local run came last: it is first
    logs = runspec(project, "logs", ok_id)
    assert (logs.returncode, logs.stdout) == (0, "one\ntwo\nthree\n")
    records = [json.loads(path.read_text()) for path in (project / "jobs").glob("*/*/runspec.json")]
    kept = {record["job_id"]: record["slurm_state"]["state"] for record in records}
    assert kept == {ok_id: "COMPLETED", failed_id: "FAILED"}  # final: never asked again


def test_jobs_sent_over_ssh_are_listed_with_their_host_and_state(
    station: Any, tmp_path: Path  # noqa: F811
) -> None:
    """Jobs submitted from a workstation: their states come from their login node."""
    ids = []
    for code in ("0", "3"):
        done = station.run("run", "echo.py", "-b", "login", f"exit_code={code}")
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.strip())
    for job_id in ids:
        station.wait_for(job_id, ("COMPLETED", "FAILED"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = station.run("jobs", "--json", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    listed = {job["id"]: job for job in json.loads(done.stdout)}
    where = f"slurm@{station.server.alias}"
    assert {job_id: (listed[job_id]["where"], listed[job_id]["state"], listed[job_id]["exit_code"])
            for job_id in ids} == {ids[0]: (where, "COMPLETED", 0), ids[1]: (where, "FAILED", 3)}


def test_a_recipe_cli_submits_with_b_and_runs_attached_with_r(project: Path) -> None:
    """The recipe CLI's -b and -r on Slurm, and `runspec submit` with a recipe's name."""
    (project / "cli.py").write_text(
        "import sys\nfrom runspec.cli import recipe_cli\n"
        "sys.exit(recipe_cli('recipes', prog='cook')())\n"
    )
    submitted = python(project, "cli.py", "tests", "talk", "-b", "cluster", "exit=3")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert job_id.isdigit(), submitted.stdout
    job = finished(project, job_id)
    assert (job["recipe"], job["profile"], job["state"], job["exit_code"]) == (
        "tests/talk", "cluster", "FAILED", 3,
    )  # fmt: skip
    attached = python(project, "cli.py", "-r", "cluster", "tests", "talk", "out=[\"hi\"]")
    assert attached.returncode == 0, attached.stderr
    assert "\nhi\n" in f"\n{attached.stdout}"
    by_name = runspec(project, "submit", "tests/talk", "-p", "cluster", "exit=4", "--wait")
    assert by_name.returncode == 4, by_name.stderr
    assert finished(project, by_name.stdout.splitlines()[0])["recipe"] == "tests/talk"


BOXED = """\
# /// script
# [tool.runspec]
# name = "tests/boxed"
# image = "nvcr.io/nvidia/nemo:25.11"
# [tool.runspec.run]
# launch = "direct"
# [tool.runspec.config]
# format = "json"
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
print("in the image")
"""
PYXIS = """\
#!/bin/bash
# Stands in for srun with pyxis: records --container-image, refuses an image file that
# is not there, and runs the step with the real srun, without the container options.
kept=() image= command=
for word in "$@"; do
  if [[ -z $command && $word == --container-image=* ]]; then image=${{word#*=}}
  elif [[ -z $command && $word == --container-* ]]; then :
  else kept+=("$word"); [[ $word == -* ]] || command=1
  fi
done
printf '%s\\n' "$image" >> "$(dirname "$0")/pyxis-images"
if [[ -n $image && ! -f $image ]]; then echo "pyxis: no image $image" >&2; exit 1; fi
exec {srun} "${{kept[@]}}"
"""


def test_a_squashing_profile_runs_its_jobs_from_the_sqsh_file(project: Path) -> None:
    """``squash = true``: a job stops at once while the file is missing, and runs from it
    once ``runspec squash`` has made it (pyxis, which the test cluster lacks, is a
    stand-in srun on PATH that records the image it is given)."""
    srun = shutil.which("srun")
    assert srun is not None
    (project / "bin" / "srun").write_text(PYXIS.format(srun=srun))
    (project / "bin" / "srun").chmod(0o755)
    (project / "recipes" / "boxed.py").write_text(BOXED)
    with (project / "env.toml").open("a") as env:
        env.write('\n[boxed]\nextends = "cluster"\nsquash = true\n')
    target = project / "cache" / SQSH

    missing = runspec(project, "run", "recipes/boxed.py", "-p", "boxed")
    assert missing.returncode == 1
    assert (
        f"runspec: {target} is missing: make it with 'runspec squash {IMAGE} -p boxed'\n"
    ) in missing.stderr
    assert not (project / "bin" / "pyxis-images").exists()  # stopped before any step

    squashed = runspec(project, "squash", IMAGE, "-p", "boxed")
    assert squashed.returncode == 0, squashed.stderr
    assert finished(project, squashed.stdout.strip())["state"] == "COMPLETED"
    ran = runspec(project, "run", "recipes/boxed.py", "-p", "boxed")
    assert ran.returncode == 0, ran.stderr
    assert "in the image\n" in ran.stdout
    assert (project / "bin" / "pyxis-images").read_text() == f"{target}\n"


def test_squash_over_ssh_runs_on_the_cluster_with_the_profiles_startup_commands(
    station: Any, tmp_path: Path  # noqa: F811
) -> None:
    """From a workstation: the job goes through the login node, the file lands on the
    cluster's side, the profile's startup_commands run first (here: they put the stand-in
    ``enroot`` on PATH), and a second call finds the file there and submits nothing."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "enroot").write_text(ENROOT)
    (tools / "enroot").chmod(0o755)
    images = tmp_path / "cluster" / "images"
    station.write_env(
        f"squash_dir = {json.dumps(str(images))}\n"
        f"startup_commands = [{json.dumps(f'export PATH={tools}:$PATH')}]"
    )
    done = station.run("squash", IMAGE, "-p", "login")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert station.wait_for(job_id, ("COMPLETED", "FAILED")) == "COMPLETED"
    assert (images / SQSH).read_text() == "squashfs of docker://nvcr.io#nvidia/nemo:25.11\n"
    listed = {job["id"]: job for job in json.loads(station.run("jobs", "--json").stdout)}
    assert (listed[job_id]["recipe"], listed[job_id]["where"]) == (
        f"squash {IMAGE}", f"slurm@{station.server.alias}",
    )  # fmt: skip
    again = station.run("squash", IMAGE, "-p", "login")
    assert (again.returncode, again.stdout) == (0, "")
    assert again.stderr == (
        f"runspec: {images / SQSH} exists already; --force squashes {IMAGE} again\n"
    )
