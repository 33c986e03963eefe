"""`runspec env` through the real CLI: discovery, listing, resolving, explaining, checking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ENV_TOML = """\
[base]
executor = "slurm"
account = "acct"
[base.env_vars]
NCCL_DEBUG = "WARN"

[dev]
extends = "base"
partition = "dev-gpu"
partiton = "typo"

[broken]
extends = "nope"

[wandb]
entity = "team"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "env.toml").write_text(ENV_TOML)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    return tmp_path


def test_listing_marks_broken_profiles_and_names_the_file(runspec, project):
    done = runspec("env", cwd=project / "sub" / "deeper")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"env file: {project / 'env.toml'}",
        "  base",
        "  dev     extends base",
        f"! broken  extends nope  error: {project / 'env.toml'}:13: [broken].extends: "
        "unknown profile 'nope' (chain: broken -> nope)",
        "settings: wandb",
    ]


def test_listing_json(runspec, project):
    done = runspec("env", "--json", cwd=project)
    data = json.loads(done.stdout)
    assert data["env_file"] == str(project / "env.toml")
    assert [p["name"] for p in data["profiles"]] == ["base", "dev", "broken"]


def test_resolved_profile_with_explain(runspec, project):
    done = runspec("env", "dev", "--explain", cwd=project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"# profile dev (dev -> base) from {project / 'env.toml'}"
    assert any(
        line.startswith('partition = "dev-gpu"') and line.endswith("# from dev") for line in lines
    )
    assert any(
        line.startswith('account = "acct"') and line.endswith("# from base") for line in lines
    )


def test_resolved_profile_json(runspec, project):
    done = runspec("env", "dev", "--json", cwd=project)
    data = json.loads(done.stdout)
    assert data["values"]["env_vars"] == {"NCCL_DEBUG": "WARN"}
    assert "extends" not in data["values"]


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["env", "gpux"], 1, "runspec: error: {env}: unknown profile 'gpux' (known: base, dev, broken)\n"),
        (
            ["env", "broken"], 1,
            "runspec: error: {env}:13: [broken].extends: unknown profile 'nope' (chain: broken -> nope)\n",
        ),
        (["env", "wandb"], 1, "runspec: error: {env}:15: 'wandb' is a reserved section, not a profile\n"),
        (["env", "--env-file", "missing.toml"], 1, "runspec: error: {cwd}/missing.toml: no such env file\n"),
    ],
    ids=["unknown", "broken", "reserved", "missing-file"],
)  # fmt: skip
def test_env_errors(runspec, project, args, code, stderr):
    done = runspec(*args, cwd=project)
    assert (done.returncode, done.stderr) == (
        code,
        stderr.format(env=project / "env.toml", cwd=project),
    )


def test_check_reports_errors_and_warnings(runspec, project):
    done = runspec("env", "--check", cwd=project)
    assert done.returncode == 1
    env = project / "env.toml"
    assert done.stdout.splitlines() == [
        f"{env}:10: warning: [dev].partiton: unknown key (did you mean 'partition'?)",
        f"{env}:13: error: [broken].extends: unknown profile 'nope' (chain: broken -> nope)",
        "checked 1 file: 1 error(s), 1 warning(s)",
    ]


def test_environment_variable_beats_discovery(runspec, project, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text("[solo]\n")
    done = runspec("env", cwd=project, env={"RUNSPEC_ENV_FILE": str(other)})
    assert done.stdout.splitlines()[:2] == [f"env file: {other}", "  solo"]


def test_no_file_is_fine_without_a_profile(runspec, tmp_path):
    (tmp_path / ".git").mkdir()
    done = runspec("env", cwd=tmp_path, env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": ""})
    assert (done.returncode, done.stdout) == (0, "no env.toml found (see 'runspec env --help')\n")


def test_env_file_that_is_a_folder(runspec, project):
    done = runspec("env", "--env-file", str(project), cwd=project)
    assert (done.returncode, done.stderr) == (1, f"runspec: error: {project}: is a folder, not an env file\n")
