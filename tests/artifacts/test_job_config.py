"""env.toml's [artifacts] reaches the job config; ``runspec config --resolve-artifacts``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runspec_extras.artifacts import Registry
from runspec_extras.artifacts.context import clear_cache
from tests.support import Result, block, require_module

COOKBOOK = Path(__file__).parents[1] / "data" / "cookbook"
EXPECTED: dict[str, dict[str, Any]] = json.loads((COOKBOOK / "expected.json").read_text())


def _arguments(case: str) -> list[str]:
    script, config, profile = case.split("|")
    return [script, *(["-c", config] if config != "default" else []),
            *(["-p", profile] if profile != "local" else [])]  # fmt: skip


@pytest.mark.parametrize("case", sorted(EXPECTED)[::4])
def test_the_cookbook_job_config_holds_the_artifacts_section(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    require_module("omegaconf")
    monkeypatch.chdir(COOKBOOK)
    done = cli("config", *_arguments(case), "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["artifacts"] == EXPECTED[case]["train"]["artifacts"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clear_cache()
    monkeypatch.delenv("RUNSPEC_ARTIFACTS_ROOT", raising=False)
    monkeypatch.delenv("RUNSPEC_JOB_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / "env.toml").write_text('[artifacts]\nroot = "registry"\nwandb = false\n')
    (tmp_path / "train.py").write_text(block('[tool.runspec]\nname = "train"\nconfig = { format = "json" }\n'))
    (tmp_path / "config").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "blend.json").write_text("{}")
    Registry(str(tmp_path / "registry")).publish("data", str(tmp_path / "src"), metadata={"seq": 512})
    return tmp_path


def write_config(project: Path, data: dict[str, Any]) -> None:
    (project / "config" / "default.json").write_text(json.dumps(data))


def test_the_config_files_own_artifacts_keys_win(cli: Callable[..., Result], project: Path) -> None:
    write_config(project, {"artifacts": {"wandb": True, "extra": 1}})
    job = json.loads(cli("config", "train.py", "--json").out)
    assert job["artifacts"] == {"root": "registry", "wandb": True, "extra": 1}


def test_resolve_artifacts(cli: Callable[..., Result], project: Path) -> None:
    write_config(project, {
        "run": {"data": "data:latest"},
        "blend": "${art:data,path}/blend.json", "seq": "${art:data,seq}", "v": "${art:data,version}",
    })  # fmt: skip
    version = Registry(str(project / "registry")).resolve("data")
    plain = json.loads(cli("config", "train.py", "--json").out)
    assert (plain["blend"], plain["seq"]) == ("${art:data,path}/blend.json", "${art:data,seq}")
    done = cli("config", "train.py", "--json", "--resolve-artifacts")
    assert done.code == 0, done.err
    job = json.loads(done.out)
    assert (job["blend"], job["seq"], job["v"]) == (f"{version.path}/blend.json", 512, "v1")


def test_resolve_artifacts_error(cli: Callable[..., Result], project: Path) -> None:
    write_config(project, {"run": {"data": "data:v4"}, "x": "${art:data,path}"})
    assert cli("config", "train.py", "--resolve-artifacts") == Result(
        1, "", "runspec: error: ${art:data,path}: data has no version v4 (versions: v1)\n"
    )
