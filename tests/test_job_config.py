"""load_job_config: how a recipe reads its job config (command line, files, resolvers)."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runspec_extras import omegaconf_config
from runspec_extras.omegaconf_config import load_job_config, register_resolvers
from tests.support import REPO, cli_env, require_module

pytestmark = pytest.mark.extra

LAYERED = REPO / "examples" / "layered"


@pytest.fixture(autouse=True)
def _setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_module("yaml")
    require_module("omegaconf")
    monkeypatch.setattr(sys, "argv", ["train.py"])
    monkeypatch.delenv("RUNSPEC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    files = {
        "base.yaml": "train:\n  lr: 1e-3\n  steps: 10\nhome: ${oc.env:JOB_HOME,/nowhere}\n",
        "c.yaml": "defaults: base\ntrain:\n  steps: 20\ndrop: 1\n",
        "c.json": '{"train": {"lr": 0.5}, "from": "json"}',
        "other.yaml": "from: other\n",
        "broken.yaml": "a: [\n",
        "interp.json": '{"a": "${oops"}',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")


def plain(config: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(config, resolve=True)


CASES = [
    ("config", ["--config", "c.yaml"], {"train": {"lr": 0.001, "steps": 20}, "home": "/nowhere", "drop": 1}),
    ("config-equals", ["--config=c.yaml"], {"train": {"lr": 0.001, "steps": 20}, "home": "/nowhere", "drop": 1}),
    (
        "overrides", ["--config", "c.yaml", "train.lr=0.1", "+new=[1, 2]", "~drop", "++home=/h"],
        {"train": {"lr": 0.1, "steps": 20}, "home": "/h", "new": [1, 2]},
    ),
    ("json", ["--config", "c.json", "train.lr=1"], {"train": {"lr": 1}, "from": "json"}),
    ("overrides-before-config", ["from=x", "--config", "c.json"], {"train": {"lr": 0.5}, "from": "x"}),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reads_the_config_and_overrides(argv: list[str], expected: dict[str, Any]) -> None:
    assert plain(load_job_config(argv)) == expected


def test_takes_sys_argv_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--config", "other.yaml"])
    assert plain(load_job_config()) == {"from": "other"}


@pytest.mark.parametrize(
    ("argv", "env", "default", "expected"),
    [
        (["--config", "other.yaml"], "c.json", "c.yaml", "other"),
        ([], "c.json", "other.yaml", "json"),
        ([], None, "other.yaml", "other"),
    ],
    ids=["flag-first", "then-RUNSPEC_CONFIG", "then-default"],
)
def test_which_file(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None, default: str, expected: str
) -> None:
    if env:
        monkeypatch.setenv("RUNSPEC_CONFIG", env)
    assert load_job_config(argv, default=default)["from"] == expected


def test_oc_env_resolves_from_the_jobs_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_job_config(["--config", "c.yaml"])
    monkeypatch.setenv("JOB_HOME", "/home/job")
    assert config.home == "/home/job"


ERRORS = [
    ("unknown-flags", ["--config", "c.yaml", "--lr", "3", "-v"], "unknown arguments: '--lr', '3', '-v' (expected --config PATH and KEY=VALUE)"),
    ("config-without-path", ["--config"], "--config needs a PATH"),
    ("config-equals-nothing", ["--config="], "--config needs a PATH"),
    ("no-config", [], "no config given: pass --config PATH"),
    ("missing-file", ["--config", "nope.yaml"], "nope.yaml: no such config file"),
    ("bad-override", ["--config", "c.yaml", "train.lrr=1"], "train.lrr: no such key to set (use +train.lrr=... to add it)"),
    ("malformed-override", ["--config", "c.yaml", "a b=1"], "invalid override 'a b=1': bad key 'a b' (dotted names of letters, digits, '_' and '-')"),
    ("invalid-yaml", ["--config", "broken.yaml"], "broken.yaml:2: invalid YAML: did not find expected node content (column 1)"),
    ("bad-interpolation", ["--config", "interp.json"], "interp.json: a: no viable alternative at input '${oops'"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        load_job_config(argv)
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"train.py: error: {message}\n")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        load_job_config(["--help"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == (
        "usage: train.py [--config PATH] [KEY=VALUE | +KEY=VALUE | ++KEY=VALUE | ~KEY ...]\n"
    )


# Resolvers ---------------------------------------------------------------------------------


@pytest.fixture
def resolver_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """A stand-in for runspec_extras.artifacts.resolvers: registers ``${art:NAME,FIELD}``."""
    from omegaconf import OmegaConf

    module = types.ModuleType("runspec_extras.artifacts.resolvers")
    calls: list[int] = []

    def register() -> None:
        calls.append(1)
        # register_resolver is OmegaConf 2.4's name; 2.3 has only register_new_resolver.
        add = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
        add("art", lambda name, field: f"/art/{name}/{field}", replace=True)

    module.register = register  # type: ignore[attr-defined]
    module.calls = calls  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    yield module
    OmegaConf.clear_resolver("art")


def test_resolver_modules_are_registered(tmp_path: Path, resolver_module: types.ModuleType) -> None:
    (tmp_path / "a.yaml").write_text("data: ${art:data,path}/blend.json\n", encoding="utf-8")
    config = load_job_config(["--config", "a.yaml"])
    assert config.data == "/art/data/path/blend.json"
    register_resolvers()
    assert resolver_module.calls == [1, 1]  # type: ignore[attr-defined]


def test_a_resolver_module_that_is_not_installed_is_passed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(omegaconf_config, "RESOLVER_MODULES", ("runspec_extras.no_such.resolvers",))
    register_resolvers()


def test_a_broken_resolver_module_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "site" / "brokenres"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "resolvers.py").write_text("import no_such_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(omegaconf_config, "RESOLVER_MODULES", ("brokenres.resolvers",))
    with pytest.raises(SystemExit):
        load_job_config(["--config", "other.yaml"])
    assert capsys.readouterr().err == (
        "train.py: error: registering the resolvers of brokenres.resolvers: No module named "
        f"'no_such_dependency' (ModuleNotFoundError at {package / 'resolvers.py'}:1)\n"
    )


# The example recipe, for real -------------------------------------------------------------


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=cli_env(**env),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_example_runs_under_runspec(tmp_path: Path) -> None:
    done = _run(
        "-m", "runspec", "run", str(LAYERED / "train.py"), "-c", "tiny", "train.lr=0.01",
        cwd=tmp_path, LAYERED_CACHE="/scratch/cache",
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "model tiny-lm: 1 layers of 8\ntrain 10 steps at lr 0.01 (seed 0)\ncache /scratch/cache\n"
    )


def test_the_example_runs_on_its_own(tmp_path: Path) -> None:
    done = _run(str(LAYERED / "train.py"), "train.steps=5", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "model tiny-lm: 2 layers of 64\ntrain 5 steps at lr 0.0003 (seed 0)\n"
        "cache /tmp/layered-cache\n"
    )


def test_the_example_refuses_an_unknown_flag(tmp_path: Path) -> None:
    done = _run(str(LAYERED / "train.py"), "--steps", "5", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "train.py: error: unknown arguments: '--steps', '5' (expected --config PATH and KEY=VALUE)\n"
    )
