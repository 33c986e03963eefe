"""Executor names and who runs a job: the core's local and slurm, nemo-run's others, typos.

The missing-extra cases run in a fresh interpreter without site-packages (``python -S``),
where nemo-run is really missing, or with a copy of the core alone (a vendored core).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import REPO, Result, block, require_module

KNOWN = "known: local, slurm, docker, dgxcloud, lepton, skypilot"

NAMES = [
    pytest.param(
        "slurmm", f"executor 'slurmm': unknown (did you mean 'slurm'?); {KNOWN}", id="typo"
    ),
    pytest.param("kubernetes", f"executor 'kubernetes': unknown; {KNOWN}", id="no-suggestion"),
    pytest.param("Local", f"executor 'Local': unknown (did you mean 'local'?); {KNOWN}", id="case"),
]


@pytest.mark.parametrize(("name", "message"), NAMES)
def test_env_check_reports_unknown_executor_as_error(
    cli: Callable[..., Result], tmp_path: Path, name: str, message: str
) -> None:
    env = tmp_path / "env.toml"
    env.write_text(f'[dev]\nexecutor = "{name}"\n')
    result = cli("env", "--env-file", env, "--check")
    assert result.code == 1
    assert result.out.splitlines()[0] == f"{env}:2: error: [dev].executor: {message}"


def recipe(tmp_path: Path, launch: str = "direct") -> Path:
    toml = (
        f'[tool.runspec]\nname = "probe"\n[tool.runspec.run]\nlaunch = "{launch}"\n'
        '[tool.runspec.config]\nformat = "json"\n'
    )
    script = tmp_path / "probe.py"
    script.write_text(block(toml) + "print('ran')\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text("{}")
    (tmp_path / "pyproject.toml").write_text("")
    return script


def test_run_refuses_unknown_executor_and_writes_nothing(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = recipe(tmp_path)
    (tmp_path / "env.toml").write_text('[dev]\nexecutor = "slurmm"\n')
    monkeypatch.chdir(tmp_path)
    result = cli("run", script, "-p", "dev")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"runspec: error: {tmp_path / 'env.toml'}:2: [dev].executor: executor 'slurmm': "
        f"unknown (did you mean 'slurm'?); {KNOWN}\n"
    )
    assert not (tmp_path / ".runspec").exists()


def test_an_override_cannot_name_an_unknown_executor(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = recipe(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = cli("run", script, "run.env.executor=dokcer", "--dry-run")
    assert result.err == (
        f"runspec: error: run.env.executor: executor 'dokcer': unknown "
        f"(did you mean 'docker'?); {KNOWN}\n"
    )


def test_launcher_must_be_runspec_or_nemo_run(cli: Callable[..., Result], tmp_path: Path) -> None:
    env = tmp_path / "env.toml"
    env.write_text('[dev]\nexecutor = "local"\nlauncher = "nemorun"\n')
    result = cli("env", "--env-file", env, "--check")
    assert result.out.splitlines()[0] == (
        f"{env}:3: error: [dev].launcher: must be 'runspec' or 'nemo-run' (got 'nemorun')"
    )


def test_via_takes_two_names(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("run", recipe(tmp_path), "--via", "nemo_run")
    assert result.code == 2
    assert "argument --via: invalid choice: 'nemo_run' (choose from 'runspec', 'nemo-run')" in (
        result.err
    )


def test_via_runspec_beats_the_profile_launcher(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = recipe(tmp_path)
    (tmp_path / "env.toml").write_text('[dev]\nexecutor = "local"\nlauncher = "nemo-run"\n')
    monkeypatch.chdir(tmp_path)
    result = cli("run", script, "-p", "dev", "--via", "runspec", "--dry-run")
    assert result.code == 0
    assert "# command\n" in result.out and "nemo-run" not in result.err


def fresh(*args: str, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    """``python -S -m runspec ARGS``: no site-packages, so no nemo-run."""
    env = {"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-S", "-m", "runspec", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


MISSING = [
    pytest.param(
        '[p]\nexecutor = "lepton"\n', [],
        "runspec: error: executor 'lepton' needs nemo-run, which is not installed: "
        "pip install 'runspec[nemo-run]'\n",
        id="lepton",
    ),
    pytest.param(
        '[p]\nexecutor = "local"\nlauncher = "nemo-run"\n', [],
        "runspec: error: running the local executor through nemo-run needs nemo-run, which is "
        "not installed: pip install 'runspec[nemo-run]'\n",
        id="local-launcher",
    ),
    pytest.param(
        '[p]\nexecutor = "slurm"\naccount = "a"\n', ["--via", "nemo-run"],
        "runspec: error: running the slurm executor through nemo-run needs nemo-run, which is "
        "not installed: pip install 'runspec[nemo-run]'\n",
        id="slurm-via",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("env_toml", "extra", "message"), MISSING)
def test_missing_nemo_run_names_the_extra(
    tmp_path: Path, env_toml: str, extra: list[str], message: str
) -> None:
    script = recipe(tmp_path)
    (tmp_path / "env.toml").write_text(env_toml)
    done = fresh("run", str(script), "-p", "p", *extra, cwd=tmp_path, pythonpath=REPO)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", message)
    assert not (tmp_path / ".runspec").exists()


def test_core_executors_need_no_extra(tmp_path: Path) -> None:
    script = recipe(tmp_path)
    done = fresh("run", str(script), cwd=tmp_path, pythonpath=REPO)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")


def test_vendored_core_without_extras(tmp_path: Path) -> None:
    vendored = tmp_path / "vendor"
    shutil.copytree(REPO / "runspec", vendored / "runspec")
    script = recipe(tmp_path)
    (tmp_path / "env.toml").write_text('[p]\nexecutor = "docker"\n')
    done = fresh("run", str(script), "-p", "p", cwd=tmp_path, pythonpath=vendored)
    assert done.stderr == (
        "runspec: error: executor 'docker' needs runspec_extras, which is not installed: "
        "pip install 'runspec[nemo-run]'\n"
    )


def test_broken_nemo_run_shows_the_real_error(tmp_path: Path) -> None:
    """An installed nemo-run that fails to import (as with the newest leptonai) is not
    reported as missing: installing the extra again would not help."""
    fake = tmp_path / "site" / "nemo_run"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'leptonai.api.v1'\", name='leptonai.api.v1')\n"
    )
    shutil.copytree(REPO / "runspec", tmp_path / "site" / "runspec")
    shutil.copytree(REPO / "runspec_extras", tmp_path / "site" / "runspec_extras")
    script = recipe(tmp_path)
    (tmp_path / "env.toml").write_text('[p]\nexecutor = "docker"\n')
    done = fresh("run", str(script), "-p", "p", cwd=tmp_path, pythonpath=tmp_path / "site")
    assert done.stderr == (
        "runspec: error: executor 'docker': No module named 'leptonai.api.v1' "
        f"(ModuleNotFoundError at {fake / '__init__.py'}:1)\n"
    )


def test_pipe_refuses_nemo_run_and_writes_nothing(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = recipe(tmp_path)
    (tmp_path / "env.toml").write_text('[p]\nexecutor = "local"\nlauncher = "nemo-run"\n')
    monkeypatch.chdir(tmp_path)
    require_module("nemo_run")
    result = cli("pipe", "-p", "p", script, "+", script)
    assert result.err == (
        "runspec: error: pipe: executor 'local' runs through nemo-run, which has no pipelines; "
        "pipelines run on runspec's own local and slurm executors\n"
    )
    assert list((tmp_path / ".runspec" / "jobs").iterdir()) == []


def test_submit_options_that_nemo_run_lacks(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = recipe(tmp_path)
    (tmp_path / "env.toml").write_text('[p]\nexecutor = "lepton"\n')
    monkeypatch.chdir(tmp_path)
    result = cli("submit", script, "-p", "p", "--after", "12")
    assert result.err == (
        "runspec: error: submit --after: not available for jobs that run through nemo-run\n"
    )


def test_env_check_knows_the_keys_of_nemo_run_executors(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    env = tmp_path / "env.toml"
    env.write_text(
        '[box]\nexecutor = "docker"\ncontainer_image = "img"\npartition = "gpu"\n'
        'runtime = "nvidia"\nshm_sise = "16g"\n'
        '[dgx]\nexecutor = "dgxcloud"\nbase_url = "u"\nkube_apiserver_url = "k"\n'
        '[plain]\nexecutor = "local"\nruntime = "nvidia"\n'
    )
    result = cli("env", "--env-file", env, "--check")
    assert result.out.splitlines() == [
        f"{env}:4: warning: [box].partition: not used by the docker executor (ignored)",
        f"{env}:6: warning: [box].shm_sise: unknown key (did you mean 'shm_size'?)",
        f"{env}:13: warning: [plain].runtime: unknown key (did you mean 'time'?)",
        "checked 1 file: 0 error(s), 3 warning(s)",
    ]
