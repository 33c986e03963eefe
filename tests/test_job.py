"""Job config assembly: config choice, the run section, precedence, overrides, templates."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runspec import ConfigError, OverrideError, TemplateError, parse
from runspec.job import assemble, config_text, job_name
from runspec.profiles import EnvFile
from tests.support import require_module

RECIPE = """\
# /// script
# [tool.runspec]
# name = "team/train job"
# image = "registry/image:1"
#
# [tool.runspec.run]
# launch = "torchrun"
# workdir = "/workspace"
#
# [tool.runspec.config]
# format = "{format}"
#
# [tool.runspec.resources]
# nodes = 2
# gpus_per_node = 4
# ///
"""

ENV_TOML = """\
[base]
executor = "slurm"
account = "acct"
remote_job_dir = "/lustre/jobs"
[base.env_vars]
NCCL_DEBUG = "WARN"

[dev]
extends = "base"
partition = "dev-gpu"
gpus_per_node = 2

[prod]
extends = "dev"
nodes = 8
job_dir = "${run.env.remote_job_dir}/prod"

[wandb]
entity = "team"
"""


FORMATS = ("json", "yaml", "omegaconf")


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    """Each config format in turn: what holds for JSON configs holds for the others."""
    if request.param != "json":
        require_module("yaml")
        require_module("omegaconf")
    return str(request.param)


def _suffix(fmt: str) -> str:
    return ".json" if fmt == "json" else ".yaml"


def _text(config: dict, fmt: str) -> str:
    """A config written as a user of the format would write it."""
    if fmt == "json":
        return json.dumps(config)
    import yaml

    return yaml.safe_dump(config, sort_keys=False)


def _recipe(tmp_path: Path, config: dict | str, fmt: str = "json", name: str = "default") -> Path:
    script = tmp_path / "train.py"
    script.write_text(RECIPE.replace("{format}", fmt))
    (tmp_path / "config").mkdir(exist_ok=True)
    text = config if isinstance(config, str) else _text(config, fmt)
    (tmp_path / "config" / f"{name}{_suffix(fmt)}").write_text(text)
    return script


def _env(tmp_path: Path) -> EnvFile:
    path = tmp_path / "env.toml"
    path.write_text(ENV_TOML)
    return EnvFile.load(path)


def test_run_section_without_profile(tmp_path, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    script = _recipe(tmp_path, {"lr": 0.1}, fmt)
    job = assemble(parse(script))
    run = job.config["run"]
    assert job.config["lr"] == 0.1
    assert run["env"] == {"executor": "local", "nodes": 2, "gpus_per_node": 4}
    assert run["recipe"] == {
        "name": "team/train job",
        "script": str(script),
        "image": "registry/image:1",
        "launch": "torchrun",
        "workdir": "/workspace",
        "config_dir": str(tmp_path / "config"),
    }
    config = tmp_path / "config" / f"default{_suffix(fmt)}"
    assert run["config"] == {"name": "default", "path": str(config)}
    assert run["job"] == {"name": "team-train-job", "dir": None, "profile": None, "cwd": str(tmp_path)}
    assert {run[key] == {} for key in ("wandb", "cli", "cache", "artifacts")} == {True}


@pytest.mark.parametrize(
    ("profile", "overrides", "nodes", "gpus"),
    [
        ("base", (), 2, 4),
        ("dev", (), 2, 2),
        ("prod", (), 8, 2),
        ("prod", ("run.env.nodes=16",), 16, 2),
        ("base", ("run.env.gpus_per_node=1", "run.env.nodes=3"), 3, 1),
    ],
    ids=[
        "recipe-defaults",
        "profile-gpus",
        "inherited",
        "override-beats-profile",
        "override-beats-recipe",
    ],
)
def test_precedence_command_line_then_profile_then_recipe(
    tmp_path, profile, overrides, nodes, gpus, fmt
):
    script = _recipe(tmp_path, {}, fmt)
    envfile = _env(tmp_path)
    job = assemble(
        parse(script), envfile=envfile, profile=envfile.resolve(profile), overrides=overrides
    )
    assert (job.env["nodes"], job.env["gpus_per_node"]) == (nodes, gpus)


def test_profile_templates_and_reserved_sections(tmp_path, fmt):
    config = {"out": "${run.env.job_dir}/out", "who": "${run.wandb.entity}"}
    script = _recipe(tmp_path, config, fmt)
    envfile = _env(tmp_path)
    job = assemble(parse(script), envfile=envfile, profile=envfile.resolve("prod"))
    assert job.env["job_dir"] == "/lustre/jobs/prod"
    assert job.config["out"] == "/lustre/jobs/prod/out"
    assert job.config["who"] == "team"
    assert job.config["run"]["env"]["env_vars"] == {"NCCL_DEBUG": "WARN"}
    assert job.config["run"]["job"]["profile"] == "prod"
    assert job.executor == "slurm"


def test_profile_keys_can_be_set_without_plus(tmp_path, fmt):
    script = _recipe(tmp_path, {}, fmt)
    envfile = _env(tmp_path)
    job = assemble(
        parse(script), envfile=envfile, profile=envfile.resolve("base"),
        overrides=("run.env.partition=batch", "run.env.qos=high"),
    )  # fmt: skip
    assert (job.env["partition"], job.env["qos"]) == ("batch", "high")


def test_job_dir_is_made_from_the_resolved_profile_and_usable_in_templates(tmp_path, fmt):
    script = _recipe(tmp_path, {"ckpt": "${run.job.dir}/ckpt"}, fmt)
    envfile = _env(tmp_path)
    seen = []

    def make(env):
        seen.append(env["job_dir"])
        return tmp_path / "jobs" / "x"

    job = assemble(parse(script), envfile=envfile, profile=envfile.resolve("prod"), job_dir=make)
    assert seen == ["/lustre/jobs/prod"]
    assert job.dir == tmp_path / "jobs" / "x"
    assert job.config["ckpt"] == f"{tmp_path}/jobs/x/ckpt"


def test_config_run_keys_are_kept_and_runspec_sections_win(tmp_path, fmt):
    config = {
        "run": {"extra": {"seed": 3}, "recipe": {"name": "ignored"}},
        "seed": "${run.extra.seed}",
    }
    job = assemble(parse(_recipe(tmp_path, config, fmt)))
    assert job.config["run"]["extra"] == {"seed": 3}
    assert job.config["run"]["recipe"]["name"] == "team/train job"
    assert job.config["seed"] == 3


def test_config_by_name_and_by_path(tmp_path, fmt):
    script = _recipe(tmp_path, {"which": "other"}, fmt, name="other")
    _recipe(tmp_path, {"which": "default"}, fmt)
    assert assemble(parse(script), config="other").config["which"] == "other"
    outside = tmp_path / f"elsewhere{_suffix(fmt)}"
    outside.write_text(_text({"which": "path"}, fmt))
    job = assemble(parse(script), config=str(outside))
    assert job.config["which"] == "path"
    assert job.config["run"]["config"] == {"name": "elsewhere", "path": str(outside)}


@pytest.mark.parametrize(
    ("config", "overrides", "error", "message"),
    [
        ({}, ("a=1",), OverrideError, "a: no such key to set (use +a=... to add it)"),
        ({"a": 1}, ("+a=2",), OverrideError, "a: already exists (use ++a=... to set it)"),
        (
            {"a": "${run.env.acount}"}, (), TemplateError,
            "run.env.acount: no such key (known: executor, gpus_per_node, nodes)",
        ),
        ({"run": 3}, (), ConfigError, "{config}: run: must be a table (got 3)"),
        ({}, ("run=3",), ConfigError, "run: must be a table (got 3)"),
        ({}, ("~run",), ConfigError, "run: must be a table (deleted by an override)"),
        ({}, ("~run.env",), ConfigError, "run.env: must be a table (deleted by an override)"),
        ({}, ("run.job=3",), ConfigError, "run.job: must be a table (got 3)"),
        ({}, ("run.env=3",), ConfigError, "run.env: must be a table (got 3)"),
        ({}, ("run.env.env_vars=3",), ConfigError, "run.env.env_vars: must be table of str, int, float or bool (got 3)"),
        ({}, ("run.env.job_dir=[1]",), ConfigError, "run.env.job_dir: must be str (got [1])"),
        ({}, ("run.env.executor=3",), ConfigError, "run.env.executor: must be str (got 3)"),
    ],
    ids=[
        "set-missing", "add-existing", "unknown-reference", "config-run-scalar", "run-scalar",
        "run-deleted", "env-deleted", "job-scalar", "env-scalar", "env-vars-scalar",
        "job-dir-list", "executor-int",
    ],
)  # fmt: skip
def test_assembly_errors(tmp_path, config, overrides, error, message, fmt):
    script = _recipe(tmp_path, config, fmt)
    with pytest.raises(error) as caught:
        assemble(parse(script), overrides=overrides)
    path = tmp_path / "config" / f"default{_suffix(fmt)}"
    assert str(caught.value) == message.format(config=path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "{config}: a config must be an object at the top (got list)"),
        ('{"a": ', "{config}:1: invalid JSON: Expecting value (column 7)"),
        ('{"a": "\\ud800"}', "{config}: invalid JSON: a \\u escape is a lone surrogate, not UTF-8 text"),
    ],
    ids=["not-an-object", "bad-json", "lone-surrogate"],
)  # fmt: skip
def test_json_config_errors(tmp_path, text, message):
    script = _recipe(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        assemble(parse(script))
    assert str(caught.value) == message.format(config=tmp_path / "config" / "default.json")


def test_yaml_config_of_a_yaml_recipe(tmp_path):
    require_module("yaml")
    script = _recipe(tmp_path, "a: 1\nwhen: 2024-05-01\n", fmt="yaml")
    job = assemble(parse(script))
    assert (job.config["a"], job.config["when"]) == (1, "2024-05-01")


def test_yaml_file_for_a_json_recipe_is_read_as_plain_yaml(tmp_path):
    require_module("yaml")
    script = _recipe(tmp_path, {})
    (tmp_path / "other.yaml").write_text("a: 1e-4\nb: 1.0e-4\n")
    job = assemble(parse(script), config=str(tmp_path / "other.yaml"))
    assert (job.config["a"], job.config["b"]) == ("1e-4", 0.0001)


def test_unknown_config_lists_the_available_ones(tmp_path):
    script = _recipe(tmp_path, {})
    with pytest.raises(ConfigError) as caught:
        assemble(parse(script), config="tiny")
    folder = tmp_path / "config"
    assert str(caught.value) == (
        f"{script}: tool.runspec.config: no config 'tiny' in {folder} (available: default)"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("nano3/pretrain", "nano3-pretrain"), ("a b;c", "a-b-c"), ("", "train")],
    ids=["slash", "unsafe", "empty-uses-script"],
)
def test_job_name_is_safe(tmp_path, name, expected):
    script = tmp_path / "train.py"
    script.write_text(f'# /// script\n# [tool.runspec]\n# name = "{name}"\n# ///\n')
    assert job_name(parse(script)) == expected


def test_config_command_json_is_what_gets_saved(runspec, tmp_path, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    script = _recipe(tmp_path, {"lr": 0.1}, fmt)
    printed = runspec("config", str(script), "lr=0.5", "--json", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    data = json.loads(printed.stdout)
    job = assemble(parse(script), overrides=("lr=0.5",))
    data["run"]["job"]["dir"] = None  # the command shows where the folder would go
    assert data == json.loads(config_text(job.config))


def test_config_command_text_output(runspec, tmp_path, fmt):
    script = _recipe(tmp_path, {"train": {"lr": 0.1}}, fmt)
    done = runspec("config", str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        textwrap.dedent("""\
        train:
          lr: 0.1
        run:
          env:
            executor: "local"
        """)
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("run.env.nodes=x", "run.env.nodes: must be int >= 1 (got 'x')"),
        ("run.env.nodes=0", "run.env.nodes: must be int >= 1 (got 0)"),
        ("run.env.exclusive=1", "run.env.exclusive: must be bool (got 1)"),
        ("run.env.mounts=/a:/b", "run.env.mounts: must be list of str (got '/a:/b')"),
    ],
    ids=["nodes-text", "nodes-zero", "exclusive-int", "mounts-text"],
)
def test_overridden_profile_keys_are_checked_like_profile_values(
    tmp_path, override, message, fmt
):
    script = _recipe(tmp_path, {}, fmt)
    with pytest.raises(ConfigError) as caught:
        assemble(parse(script), overrides=(override,))
    assert str(caught.value) == message


def test_config_path_that_is_a_folder(tmp_path):
    script = _recipe(tmp_path, {})
    with pytest.raises(ConfigError) as caught:
        assemble(parse(script), config=str(tmp_path / "config") + "/")
    assert str(caught.value) == f"{tmp_path / 'config'}/: is a folder, not a config file"
