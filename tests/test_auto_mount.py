"""Pinned sources: ``${auto_mount:git+URL@REF,TARGET}`` in a config's run.env.mounts.

Every clone here is of a local repository (``file://``), never the network. A ``git``
on PATH that logs its arguments and runs the real one counts clones and fetches.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runspec import ConfigError, parse
from runspec.auto_mount import Pin, ensure, placed, plan
from runspec.job import assemble
from runspec.profiles import EnvFile
from runspec.slurm.cluster import prepare
from tests.support import REPO

GIT = shutil.which("git") or "git"

RECIPE = """\
# /// script
# [tool.runspec]
# name = "pinned"
# image = "img:1"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [GIT, "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, str]:
    """A repository with one commit on ``main``: (folder, commit)."""
    folder = tmp_path / "origin" / "Megatron-LM"
    folder.mkdir(parents=True)
    _git(folder, "init", "-q", "-b", "main")
    (folder / "VERSION").write_text("1\n")
    _git(folder, "add", "VERSION")
    _git(folder, "commit", "-q", "-m", "one")
    return folder, _git(folder, "rev-parse", "HEAD")


def _commit(folder: Path, version: str) -> str:
    (folder / "VERSION").write_text(version + "\n")
    _git(folder, "commit", "-q", "-am", version)
    return _git(folder, "rev-parse", "HEAD")


@pytest.fixture
def git_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a logging ``git`` first on PATH; returns the log file (one line per call)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "git.log"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{GIT}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def _calls(log: Path, verb: str) -> int:
    if not log.exists():
        return 0
    return sum(line.split()[:3].count(verb) > 0 for line in log.read_text().splitlines())


PINS = [
    ("commit", "${auto_mount:git+https://h/o/Megatron-LM.git@" + "a" * 40 + ",/opt/megatron-lm}",
     ("https://h/o/Megatron-LM.git", "a" * 40, "/opt/megatron-lm")),
    ("branch-with-slash", "${auto_mount:git+https://h/B.git@user/branch, /opt/B}",
     ("https://h/B.git", "user/branch", "/opt/B")),
    ("file-url", "${auto_mount:git+file:///srv/r@v1.0,/r}", ("file:///srv/r", "v1.0", "/r")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "parts"), [c[1:] for c in PINS], ids=[c[0] for c in PINS])
def test_pins_parse(text, parts):
    pin = Pin.parse(text, "k")
    assert pin is not None
    assert (pin.url, pin.ref, pin.target) == parts


@pytest.mark.parametrize(
    "text",
    [
        "${auto_mount:git+https://h/r.git,/opt/r}",
        "${auto_mount:git+https://h/r.git@main,opt/r}",
        "${auto_mount:https://h/r.git@main,/opt/r}",
        "${auto_mount:git+https://h/r.git@main}",
    ],
    ids=["no-ref", "relative-target", "no-git-scheme", "no-target"],
)
def test_bad_pins_are_refused(text):
    with pytest.raises(ConfigError) as caught:
        Pin.parse(text, "run.env.mounts.0")
    assert str(caught.value) == (
        f"run.env.mounts.0: bad auto_mount {text!r} (expected ${{auto_mount:git+URL@REF,/TARGET}})"
    )
    assert Pin.parse("/a:/b", "k") is None


def _pin(origin: tuple[Path, str], ref: str, target: str = "/opt/megatron-lm") -> Pin:
    pin = Pin.parse(f"${{auto_mount:git+file://{origin[0]}@{ref},{target}}}", "k")
    assert pin is not None
    return pin


def test_a_checkout_per_commit_cloned_once(origin, tmp_path, git_log):
    cache = tmp_path / "cache"
    folder = ensure(_pin(origin, "main"), cache)
    assert folder == cache / _pin(origin, "main").slug / origin[1]
    assert (folder / "VERSION").read_text() == "1\n"
    assert ensure(_pin(origin, origin[1]), cache) == folder
    assert ensure(_pin(origin, "main"), cache) == folder
    assert (_calls(git_log, "clone"), _calls(git_log, "fetch")) == (2, 0)  # mirror + checkout
    assert sorted(p.name for p in folder.parent.iterdir()) == [".lock", origin[1], "repo.git"]


def test_fetch_only_when_the_ref_is_missing(origin, tmp_path, git_log):
    cache = tmp_path / "cache"
    first = ensure(_pin(origin, "main"), cache)
    second_commit = _commit(origin[0], "2")
    assert ensure(_pin(origin, "main"), cache) == first  # the branch is in the mirror
    assert _calls(git_log, "fetch") == 0
    second = ensure(_pin(origin, second_commit), cache)
    assert _calls(git_log, "fetch") == 1
    assert second.name == second_commit
    assert (second / "VERSION").read_text() == "2\n"
    _git(origin[0], "tag", "v2")
    assert ensure(_pin(origin, "v2"), cache) == second
    assert _calls(git_log, "fetch") == 2


def test_a_missing_ref_and_a_bad_url_are_one_line(origin, tmp_path):
    with pytest.raises(ConfigError) as caught:
        ensure(_pin(origin, "no-such-branch"), tmp_path / "cache")
    assert str(caught.value) == f"run.env.mounts: file://{origin[0]} has no ref 'no-such-branch'"
    bad = Pin.parse(f"${{auto_mount:git+file://{tmp_path}/nothing@main,/x}}", "k")
    assert bad is not None
    with pytest.raises(ConfigError) as caught:
        ensure(bad, tmp_path / "cache")
    assert str(caught.value).startswith(f"run.env.mounts: git clone of file://{tmp_path}/nothing@main failed: ")
    assert not [p for p in (tmp_path / "cache" / bad.slug).iterdir() if p.name != ".lock"]


RACER = """
import sys, time
from pathlib import Path
from runspec.auto_mount import Pin, ensure
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
print(ensure(Pin.parse(sys.argv[1], "k"), Path(sys.argv[2])))
"""


def test_two_submissions_that_race_share_one_clone(origin, tmp_path, git_log):
    import time

    cache, text = tmp_path / "cache", _pin(origin, "main").text
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = str(time.time() + 2)
    argv = [sys.executable, "-c", RACER, text, str(cache), start]
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    racers = [subprocess.Popen(argv, text=True, env=env, **pipes) for _ in range(2)]
    answers = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], answers
    assert {out.strip() for out, _ in answers} == {str(cache / _pin(origin, "main").slug / origin[1])}
    assert _calls(git_log, "clone") == 2  # one mirror, one checkout, whoever won
    leftovers = [p.name for p in (cache / _pin(origin, "main").slug).iterdir()]
    assert sorted(leftovers) == [".lock", origin[1], "repo.git"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin) -> Callable[..., Path]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "env.toml").write_text(
        f'[cluster]\nexecutor = "slurm"\njob_dir = "{tmp_path}/jobs"\nmounts = ["/lustre:/lustre"]\n'
        f'[cache]\ngit_dir = "{tmp_path}/cache"\n'
    )

    def write(ref: str) -> Path:
        script = tmp_path / "recipe" / "train.py"
        script.parent.mkdir(exist_ok=True)
        script.write_text(RECIPE)
        (script.parent / "config").mkdir(exist_ok=True)
        mounts = [f"${{auto_mount:git+file://{origin[0]}@{ref},/opt/megatron-lm}}"]
        config = {"run": {"env": {"mounts": mounts}}}
        (script.parent / "config" / "default.json").write_text(json.dumps(config))
        return script

    return write


def _mounts(text: str) -> list[str]:
    option = next(word for word in text.split() if word.startswith("--container-mounts="))
    return option.split("=", 1)[1].split(",")


def test_sbatch_shows_the_mount_without_cloning(cli, project, origin, tmp_path, git_log):
    pin = _pin(origin, origin[1])
    done = cli("sbatch", project(origin[1]), "-p", "cluster")
    assert done.code == 0, done.err
    assert _mounts(done.out)[:2] == [f"{tmp_path}/cache/{pin.slug}/{origin[1]}:/opt/megatron-lm:ro", "/lustre:/lustre"]
    assert done.err == (
        f"runspec: warning: run.env.mounts.0: file://{origin[0]}@{origin[1]} is not checked out"
        f" in {tmp_path}/cache yet; submitting the job clones it\n"
    )
    branch = cli("run", project("main"), "-p", "cluster", "--dry-run")
    assert f"{tmp_path}/cache/{pin.slug}/main:/opt/megatron-lm:ro" in branch.out
    assert not (tmp_path / "cache").exists()
    assert _calls(git_log, "clone") == 0


def test_a_branch_already_in_the_cache_shows_its_commit(cli, project, origin, tmp_path):
    ensure(_pin(origin, "main"), tmp_path / "cache")
    done = cli("sbatch", project("main"), "-p", "cluster")
    pin = _pin(origin, "main")
    assert f"{tmp_path}/cache/{pin.slug}/{origin[1]}:/opt/megatron-lm:ro" in done.out
    assert done.err == ""


def test_config_shows_the_pin_as_written(cli, project, origin):
    done = cli("config", project("main"), "-p", "cluster", "--json")
    mounts = json.loads(done.out)["run"]["env"]["mounts"]
    assert mounts == [_pin(origin, "main").text, "/lustre:/lustre"]


def _fake_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "sbatch-bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text("#!/bin/sh\necho 4242\n")
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_submit_checks_out_and_mounts_read_only(cli, project, origin, tmp_path, monkeypatch):
    _fake_sbatch(tmp_path, monkeypatch)
    done = cli("submit", project("main"), "-p", "cluster")
    assert (done.code, done.out.strip()) == (0, "4242"), done.err
    checkout = tmp_path / "cache" / _pin(origin, "main").slug / origin[1]
    assert (checkout / "VERSION").read_text() == "1\n"
    [folder] = (tmp_path / "jobs" / "pinned").iterdir()
    assert f"--container-mounts={checkout}:/opt/megatron-lm:ro," in (folder / "sbatch.sh").read_text()
    saved = json.loads((folder / "config.json").read_text())
    assert saved["run"]["env"]["mounts"][0] == f"{checkout}:/opt/megatron-lm:ro"


def test_prepare_places_pins_only_when_submitting(project, origin, tmp_path):
    envfile = EnvFile.load(tmp_path / "env.toml")
    job = assemble(
        parse(project("main")), envfile=envfile, profile=envfile.resolve("cluster"),
        job_dir=lambda env: tmp_path / "jobs" / "x",
    )  # fmt: skip
    root = tmp_path / "cache" / _pin(origin, "main").slug
    planning = prepare(job, attached=False, submitting=False)
    assert planning.jobs[0].env["mounts"][0] == f"{root}/main:/opt/megatron-lm:ro"
    assert not (tmp_path / "cache").exists()
    assert planning.script.warnings
    submitting = prepare(job, attached=False, submitting=True)
    submitted = submitting.jobs[0]
    assert submitted.env["mounts"][0] == f"{root}/{origin[1]}:/opt/megatron-lm:ro"
    assert submitting.script.warnings == ()
    assert placed(job, fetch=False)[0].env == submitted.env


def test_a_local_run_says_why_it_cannot_place_the_target(cli, project, origin, tmp_path):
    done = cli("run", project("main"), "--dry-run")
    assert done.code == 0, done.err
    assert (
        f"# note: cannot place /opt/megatron-lm (file://{origin[0]}@main): a local run has no"
        " container to mount it in, so the job sees what this machine has there"
    ) in done.out


def test_plan_names_the_folder_for_a_commit(origin, tmp_path: Any):
    folder, ready = plan(_pin(origin, origin[1]), tmp_path / "cache")
    assert (folder.name, ready) == (origin[1], False)
    ensure(_pin(origin, origin[1]), tmp_path / "cache")
    assert plan(_pin(origin, "main"), tmp_path / "cache") == (folder, True)
