"""A config's run.env merged with the profile and the header; where each key came from.

The precedence table of docs/configs.md, case by case; ``runspec config --explain``
(golden file: tests/golden/config/explain.txt; regenerate after an intended change with
``RUNSPEC_REGEN_GOLDEN=1 python -m pytest tests/test_runenv.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runspec import TemplateError, parse
from runspec.job import assemble
from runspec.profiles import EnvFile
from tests.support import Result, require_module

GOLDEN = Path(__file__).parent / "golden" / "config"

RECIPE = """\
# /// script
# [tool.runspec]
# name = "team/train"
#
# [tool.runspec.config]
# format = "{format}"
#
# [tool.runspec.resources]
# nodes = {nodes}
# gpus_per_node = {gpus}
# ///
"""

ENV_TOML = """\
[base]
executor = "slurm"
partition = "batch"
container_image = "base:1"
mounts = ["/lustre:/lustre"]
[base.env_vars]
NCCL_DEBUG = "WARN"
SHARED = "profile"

[sized]
extends = "base"
nodes = 2
gpus_per_node = 8
ntasks_per_node = 8

[renamed]
extends = "base"
container = "child:2"

[cache]
git_dir = "/cache"
"""


def _write_config(folder: Path, config: dict[str, Any], fmt: str) -> None:
    folder.mkdir(exist_ok=True)
    if fmt == "json":
        (folder / "default.json").write_text(json.dumps(config))
        return
    require_module("omegaconf")
    from runspec_extras.omegaconf_config import dump_config

    (folder / "default.yaml").write_text(dump_config(config))


def _job(
    tmp_path: Path,
    run_env: dict[str, Any] | None,
    profile: str | None = None,
    overrides: tuple[str, ...] = (),
    gpus: str = "4",
    fmt: str = "json",
) -> Any:
    script = tmp_path / "train.py"
    script.write_text(RECIPE.format(nodes=3, gpus=gpus, format=fmt))
    config = {"lr": 0.1} if run_env is None else {"lr": 0.1, "run": {"env": run_env}}
    _write_config(tmp_path / "config", config, fmt)
    (tmp_path / "env.toml").write_text(ENV_TOML)
    envfile = EnvFile.load(tmp_path / "env.toml")
    chosen = envfile.resolve(profile) if profile else None
    return assemble(parse(script), envfile=envfile, profile=chosen, overrides=overrides)


CONFIG_ENV = {
    "container": "config:1",
    "nodes": 4,
    "partition": "config-partition",
    "mounts": ["/data:/data:ro"],
    "env_vars": {"SHARED": "config", "OWN": "1"},
}

PRECEDENCE = [
    ("header-fallback", None, None, (), {"executor": "local", "nodes": 3, "gpus_per_node": 4}),
    (
        "profile-over-header",
        None, "sized", (),
        {"nodes": 2, "gpus_per_node": 8, "container_image": "base:1", "partition": "batch"},
    ),
    (
        "config-resources-beat-profile",
        CONFIG_ENV, "sized", (),
        {"nodes": 4, "container": "config:1", "gpus_per_node": 8, "ntasks_per_node": 8},
    ),
    ("profile-beats-config-elsewhere", CONFIG_ENV, "sized", (), {"partition": "batch"}),
    (
        "env-vars-merge-by-name-profile-wins",
        CONFIG_ENV, "sized", (),
        {"env_vars": {"SHARED": "profile", "OWN": "1", "NCCL_DEBUG": "WARN"}},
    ),
    ("mounts-config-then-profile", CONFIG_ENV, "sized", (), {"mounts": ["/data:/data:ro", "/lustre:/lustre"]}),
    ("command-line-beats-config", CONFIG_ENV, "sized", ("run.env.nodes=16",), {"nodes": 16}),
    (
        "command-line-image-replaces-the-other-spelling",
        CONFIG_ENV, "sized", ("run.env.container_image=cli:3",), {"container_image": "cli:3"},
    ),
    ("config-null-is-unset", {"nodes": None}, "sized", (), {"nodes": 2}),
    ("child-alias-beats-parent-spelling", None, "renamed", (), {"container": "child:2"}),
    ("command-line-mounts-replace", CONFIG_ENV, "sized", ('run.env.mounts=["/x:/y"]',), {"mounts": ["/x:/y"]}),
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "yaml", "omegaconf"])
@pytest.mark.parametrize(
    ("run_env", "profile", "overrides", "expected"),
    [case[1:] for case in PRECEDENCE],
    ids=[case[0] for case in PRECEDENCE],
)
def test_precedence(tmp_path, run_env, profile, overrides, expected, fmt):
    env = _job(tmp_path, run_env, profile, overrides, fmt=fmt).env
    assert {key: env.get(key) for key in expected} == expected
    spellings = [key for key in ("container", "container_image") if key in env]
    assert len(spellings) <= 1


def test_a_gpu_placeholder_in_the_header_counts_as_unset(tmp_path):
    assert _job(tmp_path, None, gpus='"gpu"').env["gpus_per_node"] == 8
    assert _job(tmp_path, None, "sized", gpus='"gpu"').env["gpus_per_node"] == 8
    assert _job(tmp_path, {"gpus_per_node": 2}, gpus='"gpu"').env["gpus_per_node"] == 2


def test_show_keeps_a_gpu_placeholder_as_written(cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(RECIPE.format(nodes=1, gpus='"gpu"', format="json"))
    shown = cli("show", script, "--json")
    assert shown.code == 0
    assert json.loads(shown.out)["resources"]["gpus_per_node"] == "gpu"


ORIGINS = {
    ("executor",): "profile base",
    ("partition",): "profile base",
    ("container",): "config file",
    ("mounts",): "config file, then profile base",
    ("env_vars", "SHARED"): "profile base",
    ("env_vars", "OWN"): "config file",
    ("env_vars", "NCCL_DEBUG"): "profile base",
    ("nodes",): "command line",
    ("gpus_per_node",): "profile sized",
    ("ntasks_per_node",): "profile sized",
}


@pytest.mark.parametrize("fmt", ["json", "omegaconf"])
def test_each_key_knows_where_it_came_from(tmp_path, fmt):
    job = _job(tmp_path, CONFIG_ENV, "sized", ("run.env.nodes=16",), fmt=fmt)
    assert dict(job.env_origins) == ORIGINS
    header = _job(tmp_path, None)
    assert dict(header.env_origins) == {
        ("executor",): "default", ("nodes",): "header", ("gpus_per_node",): "header",
    }  # fmt: skip


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("RUNSPEC_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def test_config_explain(cli: Callable[..., Result], tmp_path, monkeypatch):
    _job(tmp_path, CONFIG_ENV)
    monkeypatch.chdir(tmp_path)
    done = cli("config", "train.py", "-p", "sized", "run.env.nodes=16", "--explain")
    assert (done.code, done.err) == (0, "")
    _golden("explain.txt", done.out.replace(str(tmp_path), "/project"))
    as_json = json.loads(cli("config", "train.py", "-p", "sized", "--explain", "--json").out)
    assert as_json["origins"]["env_vars.OWN"] == "config file"
    assert as_json["origins"]["nodes"] == "config file"
    assert as_json["env"]["container"] == "config:1"


OPTIONAL = [
    ("no-env-file", None, "${run.wandb.project}", None,
     "${run.wandb.project} is null: env.toml has no [wandb] section"
     " (add [wandb] with project = ... to set it)"),
    ("section-missing", "[dev]\n", "${run.artifacts.root}/x", "None/x",
     "${run.artifacts.root} is null: env.toml has no [artifacts] section"
     " (add [artifacts] with root = ... to set it)"),
    ("section-present", "[cli]\ntheme = 'dark'\n", "${run.cli.theme}", "dark", None),
    ("config-sets-it", None, "${run.cache.git_dir}", "/mine", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("env_toml", "reference", "value", "warning"),
    [case[1:] for case in OPTIONAL],
    ids=[case[0] for case in OPTIONAL],
)
def test_references_into_absent_optional_sections_are_null(
    tmp_path, env_toml, reference, value, warning
):
    script = tmp_path / "train.py"
    script.write_text(RECIPE.format(nodes=1, gpus=0, format="json"))
    (tmp_path / "config").mkdir()
    config = {"a": reference, "b": reference, "run": {"cache": {"git_dir": "/mine"}}}
    (tmp_path / "config" / "default.json").write_text(json.dumps(config))
    envfile = None
    if env_toml is not None:
        (tmp_path / "env.toml").write_text(env_toml)
        envfile = EnvFile.load(tmp_path / "env.toml")
    job = assemble(parse(script), envfile=envfile)
    assert (job.config["a"], job.config["b"]) == (value, value)
    assert job.warnings == ((warning,) if warning else ())


@pytest.mark.parametrize(
    ("env_toml", "reference", "message"),
    [
        (None, "${run.wandbb.project}", "run.wandbb: no such key (known: artifacts, cache, cli,"
         " config, env, job, recipe, wandb)"),
        ("[wandb]\nentity = 'x'\n", "${run.wandb.project}", "run.wandb.project: no such key"
         " (known: entity)"),
    ],
    ids=["unknown-section", "present-section-missing-key"],
)  # fmt: skip
def test_other_unknown_run_references_stay_errors(tmp_path, env_toml, reference, message):
    script = tmp_path / "train.py"
    script.write_text(RECIPE.format(nodes=1, gpus=0, format="json"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text(json.dumps({"a": reference}))
    envfile = None
    if env_toml is not None:
        (tmp_path / "env.toml").write_text(env_toml)
        envfile = EnvFile.load(tmp_path / "env.toml")
    with pytest.raises(TemplateError) as caught:
        assemble(parse(script), envfile=envfile)
    assert str(caught.value) == message


def test_the_warning_reaches_the_user_once(cli, tmp_path, monkeypatch):
    script = tmp_path / "train.py"
    script.write_text(RECIPE.format(nodes=1, gpus=0, format="json"))
    (tmp_path / "config").mkdir()
    config = {"a": "${run.wandb.entity}", "b": "${run.wandb.entity}"}
    (tmp_path / "config" / "default.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    done = cli("config", script, "--json")
    assert done.code == 0
    assert json.loads(done.out)["a"] is None
    assert done.err == (
        "runspec: warning: ${run.wandb.entity} is null: env.toml has no [wandb] section"
        " (add [wandb] with entity = ... to set it)\n"
    )
