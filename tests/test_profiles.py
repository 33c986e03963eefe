"""env.toml: discovery, extends chains, merge rules, errors with lines, checks, rendering."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runspec._merge import deep_merge
from runspec._toml import loads
from runspec.errors import ProfileError, RunspecError
from runspec.profiles import (
    KNOWN_KEYS,
    RESERVED,
    EnvFile,
    check_env_file,
    find_env_file,
    listing_json,
    profile_json,
    render_listing,
    render_profile,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"

ISSUE_EXAMPLE = """\
[base]
executor = "slurm"
account = "my-account"
remote_job_dir = "/lustre/jobs"
[base.env_vars]
NCCL_DEBUG = "WARN"

[dev]
extends = "base"
partition = "dev-gpu"
nodes = 1

[prod]
extends = "dev"
partition = "prod-gpu"
nodes = 8
job_dir = "${run.env.remote_job_dir}/prod"

[wandb]
entity = "my-team"
project = "nemotron"
"""


def envfile(tmp_path: Path, text: str) -> EnvFile:
    path = tmp_path / "env.toml"
    path.write_text(text, encoding="utf-8")
    return EnvFile.load(path)


# --- discovery --------------------------------------------------------------------

# (files to create, cwd, environ, explicit, expected); "~" in environ values is tmp_path
DISCOVERY = [
    (
        "explicit-wins",
        ["env.toml", "x.toml", "e.toml", "u/runspec/env.toml"],
        "",
        {"RUNSPEC_ENV_FILE": "e.toml", "XDG_CONFIG_HOME": "~/u"},
        "x.toml",
        "x.toml",
    ),
    (
        "env-var-beats-walk",
        ["env.toml", "e.toml"],
        "",
        {"RUNSPEC_ENV_FILE": "e.toml"},
        None,
        "e.toml",
    ),
    (
        "env-var-absolute",
        ["e/e.toml", "p/env.toml"],
        "p",
        {"RUNSPEC_ENV_FILE": "~/e/e.toml"},
        None,
        "e/e.toml",
    ),
    ("empty-env-var-ignored", ["env.toml"], "", {"RUNSPEC_ENV_FILE": ""}, None, "env.toml"),
    ("cwd", ["p/env.toml", "p/pyproject.toml"], "p", {}, None, "p/env.toml"),
    ("parent", ["p/env.toml", "p/pyproject.toml"], "p/a/b", {}, None, "p/env.toml"),
    (
        "nearest-wins",
        ["p/env.toml", "p/a/env.toml", "p/.git/HEAD"],
        "p/a/b",
        {},
        None,
        "p/a/env.toml",
    ),
    ("root-by-pyproject", ["env.toml", "p/pyproject.toml"], "p/a", {}, None, None),
    ("root-by-git-folder", ["env.toml", "p/.git/HEAD"], "p/a", {}, None, None),
    ("root-by-git-file", ["env.toml", "p/.git"], "p/a", {}, None, None),
    ("no-root-walks-up", ["env.toml"], "a/b/c", {}, None, "env.toml"),
    (
        "project-beats-user",
        ["p/env.toml", "p/.git/HEAD", "u/runspec/env.toml"],
        "p",
        {"XDG_CONFIG_HOME": "~/u"},
        None,
        "p/env.toml",
    ),
    (
        "xdg",
        ["p/pyproject.toml", "u/runspec/env.toml", "h/.config/runspec/env.toml"],
        "p",
        {"XDG_CONFIG_HOME": "~/u", "HOME": "~/h"},
        None,
        "u/runspec/env.toml",
    ),
    (
        "xdg-set-but-empty-folder",
        ["p/pyproject.toml", "h/.config/runspec/env.toml"],
        "p",
        {"XDG_CONFIG_HOME": "~/u", "HOME": "~/h"},
        None,
        None,
    ),
    (
        "home",
        ["p/pyproject.toml", "h/.config/runspec/env.toml"],
        "p",
        {"HOME": "~/h"},
        None,
        "h/.config/runspec/env.toml",
    ),
    (
        "relative-xdg-ignored",
        ["p/pyproject.toml", "p/u/runspec/env.toml", "h/.config/runspec/env.toml"],
        "p",
        {"XDG_CONFIG_HOME": "u", "HOME": "~/h"},
        None,
        "h/.config/runspec/env.toml",
    ),
    ("nothing", ["p/pyproject.toml"], "p", {"HOME": "~/h"}, None, None),
    ("no-home", ["p/pyproject.toml"], "p", {}, None, None),
]


@pytest.mark.parametrize(
    ("files", "cwd", "environ", "explicit", "expected"),
    [case[1:] for case in DISCOVERY],
    ids=[case[0] for case in DISCOVERY],
)
def test_find_env_file(
    tmp_path: Path,
    files: list[str],
    cwd: str,
    environ: dict[str, str],
    explicit: str | None,
    expected: str | None,
) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    env = {key: value.replace("~", str(tmp_path)) for key, value in environ.items()}
    found = find_env_file(explicit, cwd=tmp_path / cwd, environ=env)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.resolve() == (tmp_path / expected).resolve()


@pytest.mark.parametrize(
    ("explicit", "environ", "message"),
    [
        ("missing.toml", {}, "{tmp}/missing.toml: no such env file"),
        ("sub", {}, "{tmp}/sub: is a folder, not an env file"),
        (
            None,
            {"RUNSPEC_ENV_FILE": "gone.toml"},
            "{tmp}/gone.toml: no such env file (from RUNSPEC_ENV_FILE)",
        ),
    ],
    ids=["explicit-missing", "explicit-folder", "env-var-missing"],
)
def test_find_env_file_errors(
    tmp_path: Path, explicit: str | None, environ: dict[str, str], message: str
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "env.toml").write_text("", encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        find_env_file(explicit, cwd=tmp_path, environ=environ)
    assert str(caught.value) == message.replace("{tmp}", str(tmp_path))


def test_find_env_file_defaults_to_process_cwd_and_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "env.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNSPEC_ENV_FILE", raising=False)
    assert find_env_file() == tmp_path / "env.toml"
    monkeypatch.setenv("RUNSPEC_ENV_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ProfileError, match="from RUNSPEC_ENV_FILE"):
        find_env_file()


# --- loading ------------------------------------------------------------------------

LOAD_ERRORS = [
    ("missing-value", b"[a]\nnodes = \n", "{path}:2: invalid TOML: Invalid value (column 9)"),
    (
        "duplicate-key",
        b"[a]\nx = 1\nx = 2\n",
        "{path}:3: invalid TOML: Cannot overwrite a value (column 6)",
    ),
    (
        "unclosed-header",
        b"[a]\nnodes = 1\n[b\n",
        "{path}:3: invalid TOML: Expected ']' at the end of a table declaration (column 3)",
    ),
    (
        "unterminated-at-end",
        b'[a]\nx = "abc',
        "{path}:2: invalid TOML: Unterminated string (column 9)",
    ),
    ("not-utf8", b'[a]\nx = 1\ny = "\xff"\n', "{path}:3: not UTF-8 text (byte 0xff)"),
]


@pytest.mark.parametrize(
    ("raw", "message"), [case[1:] for case in LOAD_ERRORS], ids=[case[0] for case in LOAD_ERRORS]
)
def test_load_errors(tmp_path: Path, raw: bytes, message: str) -> None:
    path = tmp_path / "env.toml"
    path.write_bytes(raw)
    with pytest.raises(ProfileError) as caught:
        EnvFile.load(path)
    assert str(caught.value) == message.replace("{path}", str(path))
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("absent.toml", "{path}: cannot read env file: No such file or directory"),
        ("folder", "{path}: cannot read env file: Is a directory"),
    ],
    ids=["missing", "directory"],
)
def test_load_unreadable(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(ProfileError) as caught:
        EnvFile.load(tmp_path / name)
    assert str(caught.value) == message.format(path=tmp_path / name)


def test_load_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "env.toml"
    path.write_bytes(b"\xef\xbb\xbf[a]\nnodes = 2\n")
    assert EnvFile.load(path).resolve("a").values == {"nodes": 2}


def test_profile_names_and_sections(tmp_path: Path) -> None:
    env = envfile(
        tmp_path,
        '[cli]\ncolor = true\n[zeta]\n[wandb]\nentity = "t"\n[alpha]\nstray = 1\n'
        "[cache]\n[artifacts]\n",
    )
    assert env.profile_names == ("zeta", "alpha")
    assert dict(env.section("wandb")) == {"entity": "t"}
    assert dict(env.section("cli")) == {"color": True}
    assert dict(envfile(tmp_path, "[a]\n").section("wandb")) == {}
    with pytest.raises(ValueError, match="'alpha' is not a reserved section"):
        env.section("alpha")


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    env = envfile(tmp_path, "[a]\n\n[b]\nx = 1\n[wandb.x]\n")
    assert env.section("wandb") == {"x": {}}
    env = envfile(tmp_path, 'wandb = "team"\n[a]\n')
    with pytest.raises(ProfileError) as caught:
        env.section("wandb")
    assert str(caught.value) == f"{env.path}:1: wandb: must be a table (got 'team')"


# --- merging ----------------------------------------------------------------------

MERGES = [
    ("disjoint", {"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ("scalar-replaced", {"a": 1}, {"a": 2}, {"a": 2}),
    ("array-replaced", {"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}),
    (
        "table-merged",
        {"t": {"x": 1, "y": 2}},
        {"t": {"y": 3, "z": 4}},
        {"t": {"x": 1, "y": 3, "z": 4}},
    ),
    (
        "deep-table-merged",
        {"t": {"u": {"x": 1}}},
        {"t": {"u": {"y": 2}}},
        {"t": {"u": {"x": 1, "y": 2}}},
    ),
    ("table-over-scalar", {"t": 1}, {"t": {"x": 1}}, {"t": {"x": 1}}),
    ("scalar-over-table", {"t": {"x": 1}}, {"t": "flat"}, {"t": "flat"}),
    ("array-over-table", {"t": {"x": 1}}, {"t": [1]}, {"t": [1]}),
    ("empty-child-table", {"t": {"x": 1}}, {"t": {}}, {"t": {"x": 1}}),
    ("empty-child", {"a": 1}, {}, {"a": 1}),
]


@pytest.mark.parametrize(
    ("base", "child", "expected"), [case[1:] for case in MERGES], ids=[case[0] for case in MERGES]
)
def test_deep_merge(base: dict[str, Any], child: dict[str, Any], expected: dict[str, Any]) -> None:
    before = json.dumps([base, child])
    merged = deep_merge(base, child)
    assert merged == expected
    assert json.dumps([base, child]) == before
    for value in merged.values():  # nothing shared with the inputs
        if isinstance(value, (dict, list)):
            assert all(value is not part.get(key) for part in (base, child) for key in part)


def test_three_level_chain(tmp_path: Path) -> None:
    env = envfile(
        tmp_path,
        ISSUE_EXAMPLE.replace(
            'remote_job_dir = "/lustre/jobs"\n',
            'remote_job_dir = "/lustre/jobs"\nmounts = ["/a:/a", "/b:/b"]\nsetup = ["x"]\n',
        ).replace('partition = "prod-gpu"\n', 'partition = "prod-gpu"\nmounts = ["/c:/c"]\n')
        + '[dev.env_vars]\nNCCL_DEBUG = "INFO"\nHF_HOME = "/hf"\n[dev.sbatch]\ngres = "gpu:8"\n'
        + '[prod.sbatch]\nreservation = "r1"\n',
    )
    profile = env.resolve("prod")
    assert profile.chain == ("prod", "dev", "base")
    assert profile.values == {
        "executor": "slurm",
        "account": "my-account",
        "remote_job_dir": "/lustre/jobs",
        "mounts": ["/c:/c"],
        "setup": ["x"],
        "env_vars": {"NCCL_DEBUG": "INFO", "HF_HOME": "/hf"},
        "partition": "prod-gpu",
        "nodes": 8,
        "sbatch": {"gres": "gpu:8", "reservation": "r1"},
        "job_dir": "${run.env.remote_job_dir}/prod",
    }
    assert dict(profile.origins) == {
        "executor": "base",
        "account": "base",
        "remote_job_dir": "base",
        "mounts": "prod",
        "setup": "base",
        "env_vars": "dev",
        "partition": "prod",
        "nodes": "prod",
        "sbatch": "prod",
        "job_dir": "prod",
    }
    assert profile.leaf_origins[("sbatch", "gres")] == "dev"
    assert profile.leaf_origins[("env_vars", "HF_HOME")] == "dev"
    assert profile.executor == "slurm"
    assert profile.path == env.path
    assert "extends" not in profile.values
    assert env.resolve("base").chain == ("base",)
    assert env.extends_of("prod") == "dev"
    assert env.extends_of("base") is None


def test_resolving_does_not_change_the_file_data(tmp_path: Path) -> None:
    env = envfile(tmp_path, ISSUE_EXAMPLE + "[dev.env_vars]\nX = 1\n")
    before = json.dumps(dict(env.data))
    env.resolve("prod")
    env.resolve("dev")
    assert json.dumps(dict(env.data)) == before


def test_executor_defaults_to_local(tmp_path: Path) -> None:
    assert envfile(tmp_path, "[laptop]\n").resolve("laptop").executor == "local"


# --- errors -------------------------------------------------------------------------

# (toml text, profile resolved, message with {path})
RESOLVE_ERRORS = [
    (
        "unknown-profile",
        "[base]\n[dev]\n",
        "gpux",
        "{path}: unknown profile 'gpux' (known: base, dev)",
    ),
    ("no-profiles", "[wandb]\n", "dev", "{path}: unknown profile 'dev' (known: none)"),
    (
        "non-table-is-no-profile",
        "dev = 1\n[a]\n",
        "dev",
        "{path}: unknown profile 'dev' (known: a)",
    ),
    (
        "unknown-parent",
        '[base]\n\n[prod]\nnodes = 2\nextends = "bse"\n',
        "prod",
        "{path}:5: [prod].extends: unknown profile 'bse' (chain: prod -> bse)",
    ),
    (
        "unknown-grandparent",
        '[dev]\nextends = "bse"\n[prod]\nextends = "dev"\n',
        "prod",
        "{path}:2: [dev].extends: unknown profile 'bse' (chain: prod -> dev -> bse)",
    ),
    (
        "cycle",
        '[a]\nextends = "b"\n[b]\nextends = "a"\n',
        "a",
        "{path}:2: [a].extends: cycle a -> b -> a",
    ),
    (
        "cycle-from-other-end",
        '[a]\nextends = "b"\n[b]\nextends = "a"\n',
        "b",
        "{path}:4: [b].extends: cycle b -> a -> b",
    ),
    (
        "cycle-of-three",
        '[a]\nextends = "b"\n[b]\nextends = "c"\n[c]\nextends = "a"\n',
        "a",
        "{path}:2: [a].extends: cycle a -> b -> c -> a",
    ),
    (
        "cycle-above",
        '[prod]\nextends = "a"\n[a]\nextends = "b"\n[b]\nextends = "a"\n',
        "prod",
        "{path}:4: [a].extends: cycle a -> b -> a",
    ),
    ("self", '[a]\nnodes = 1\nextends = "a"\n', "a", "{path}:3: [a].extends: cycle a -> a"),
    ("extends-int", "[a]\nextends = 3\n", "a", "{path}:2: [a].extends: must be a string (got 3)"),
    (
        "extends-list",
        '[a]\nextends = ["b"]\n[b]\n',
        "a",
        '{path}:2: [a].extends: must be a string (got ["b"])',
    ),
    (
        "extends-bool-in-parent",
        '[a]\nextends = "b"\n[b]\nextends = false\n',
        "a",
        "{path}:4: [b].extends: must be a string (got false)",
    ),
    (
        "reserved-asked",
        '[a]\n\n[wandb]\nentity = "x"\n',
        "wandb",
        "{path}:3: 'wandb' is a reserved section, not a profile",
    ),
    (
        "reserved-asked-absent",
        "[a]\n",
        "cache",
        "{path}: 'cache' is a reserved section, not a profile",
    ),
    (
        "reserved-parent",
        '[a]\nextends = "wandb"\n[wandb]\n',
        "a",
        "{path}:2: [a].extends: 'wandb' is a reserved section, not a profile",
    ),
    (
        "reserved-grandparent-absent",
        '[a]\nextends = "b"\n[b]\nextends = "artifacts"\n',
        "a",
        "{path}:4: [b].extends: 'artifacts' is a reserved section, not a profile",
    ),
    ("nodes-str", '[a]\n\nnodes = "x"\n', "a", "{path}:3: [a].nodes: must be int >= 1 (got 'x')"),
    ("nodes-zero", "[a]\nnodes = 0\n", "a", "{path}:2: [a].nodes: must be int >= 1 (got 0)"),
    ("nodes-bool", "[a]\nnodes = true\n", "a", "{path}:2: [a].nodes: must be int >= 1 (got true)"),
    ("nodes-float", "[a]\nnodes = 2.0\n", "a", "{path}:2: [a].nodes: must be int >= 1 (got 2.0)"),
    (
        "gpus-negative",
        "[a]\ngpus_per_node = -1\n",
        "a",
        "{path}:2: [a].gpus_per_node: must be int >= 0 (got -1)",
    ),
    (
        "tasks-zero",
        "[a]\nntasks_per_node = 0\n",
        "a",
        "{path}:2: [a].ntasks_per_node: must be int >= 1 (got 0)",
    ),
    (
        "cpus-str",
        '[a]\ncpus_per_task = "8"\n',
        "a",
        "{path}:2: [a].cpus_per_task: must be int >= 1 (got '8')",
    ),
    ("mem-float", "[a]\nmem = 1.5\n", "a", "{path}:2: [a].mem: must be str or int (got 1.5)"),
    ("time-bool", "[a]\ntime = false\n", "a", "{path}:2: [a].time: must be str or int (got false)"),
    ("executor-int", "[a]\nexecutor = 1\n", "a", "{path}:2: [a].executor: must be str (got 1)"),
    ("account-list", "[a]\naccount = []\n", "a", "{path}:2: [a].account: must be str (got [])"),
    ("partition-int", "[a]\npartition = 5\n", "a", "{path}:2: [a].partition: must be str (got 5)"),
    ("qos-bool", "[a]\nqos = true\n", "a", "{path}:2: [a].qos: must be str (got true)"),
    (
        "constraint-int",
        "[a]\nconstraint = 1\n",
        "a",
        "{path}:2: [a].constraint: must be str (got 1)",
    ),
    (
        "exclusive-str",
        '[a]\nexclusive = "yes"\n',
        "a",
        "{path}:2: [a].exclusive: must be bool (got 'yes')",
    ),
    (
        "image-table",
        "[a]\ncontainer_image = {}\n",
        "a",
        "{path}:2: [a].container_image: must be str (got {})",
    ),
    (
        "mounts-str",
        '[a]\nmounts = "/a:/a"\n',
        "a",
        "{path}:2: [a].mounts: must be list of str (got '/a:/a')",
    ),
    (
        "mounts-mixed",
        '[a]\nmounts = [\n  "/a:/a",\n  1,\n]\n',
        "a",
        '{path}:2: [a].mounts: must be list of str (got ["/a:/a", 1])',
    ),
    (
        "workdir-int",
        "[a]\ncontainer_workdir = 1\n",
        "a",
        "{path}:2: [a].container_workdir: must be str (got 1)",
    ),
    (
        "env-vars-str",
        '[a]\nenv_vars = "A=1"\n',
        "a",
        "{path}:2: [a].env_vars: must be table of str, int, float or bool (got 'A=1')",
    ),
    (
        "env-var-list",
        '[a]\n[a.env_vars]\nA = "1"\nB = [1]\n',
        "a",
        "{path}:4: [a].env_vars.B: must be str, int, float or bool (got [1])",
    ),
    (
        "env-var-inline",
        "[a]\nenv_vars = { A = { x = 1 } }\n",
        "a",
        "{path}:2: [a].env_vars.A: must be str, int, float or bool (got { x = 1 })",
    ),
    (
        "env-var-dotted-quoted",
        '[a]\nenv_vars."my.var" = "x"\n',
        "a",
        '{path}:2: [a].env_vars."my.var": not a valid environment variable name',
    ),
    (
        "env-var-name-with-equals",
        '[a.env_vars]\n"A=B" = "x"\n',
        "a",
        '{path}:2: [a].env_vars."A=B": not a valid environment variable name',
    ),
    (
        "env-var-nul",
        '[a.env_vars]\nA = "x\\u0000y"\n',
        "a",
        "{path}:2: [a].env_vars.A: must not contain a NUL character",
    ),
    (
        "job-dir-nul",
        '[a]\njob_dir = "/jobs/a\\u0000b"\n',
        "a",
        "{path}:2: [a].job_dir: must not contain a NUL character",
    ),
    (
        "workdir-nul",
        '[a]\nworkdir = "w\\u0000"\n',
        "a",
        "{path}:2: [a].workdir: must not contain a NUL character",
    ),
    (
        "mounts-nul",
        '[a]\nmounts = ["/a:/b", "/c\\u0000:/d"]\n',
        "a",
        "{path}:2: [a].mounts: must not contain a NUL character",
    ),
    ("job-dir-int", "[a]\njob_dir = 1\n", "a", "{path}:2: [a].job_dir: must be str (got 1)"),
    (
        "remote-job-dir-bool",
        "[a]\nremote_job_dir = true\n",
        "a",
        "{path}:2: [a].remote_job_dir: must be str (got true)",
    ),
    ("sbatch-str", '[a]\nsbatch = "x"\n', "a", "{path}:2: [a].sbatch: must be table (got 'x')"),
    (
        "srun-args-str",
        '[a]\nsrun_args = "--mpi=pmix"\n',
        "a",
        "{path}:2: [a].srun_args: must be list of str (got '--mpi=pmix')",
    ),
    (
        "setup-int",
        "[a]\nsetup = 3\n",
        "a",
        "{path}:2: [a].setup: must be str or list of str (got 3)",
    ),
    (
        "setup-list-int",
        "[a]\nsetup = [3]\n",
        "a",
        "{path}:2: [a].setup: must be str or list of str (got [3])",
    ),
    (
        "code-other",
        '[a]\ncode = "copy"\n',
        "a",
        "{path}:2: [a].code: must be 'snapshot' or 'live' (got 'copy')",
    ),
    (
        "bad-value-in-parent",
        '[base]\nnodes = "x"\n[dev]\nextends = "base"\nnodes = 2\n',
        "dev",
        "{path}:2: [base].nodes: must be int >= 1 (got 'x')",
    ),
    (
        "dotted-top-level",
        'a.partition = "p"\na.nodes = "x"\n',
        "a",
        "{path}:2: [a].nodes: must be int >= 1 (got 'x')",
    ),
    (
        "inline-profile",
        'a = { partition = "p", nodes = "x" }\n',
        "a",
        "{path}:1: [a].nodes: must be int >= 1 (got 'x')",
    ),
    (
        "quoted-profile-name",
        '["my prof"]\n"nodes" = "x"\n',
        "my prof",
        "{path}:2: [my prof].nodes: must be int >= 1 (got 'x')",
    ),
    (
        "multiline-string-not-a-key",
        '[a]\nsetup = """\nnodes = 1\n[b]\n"""\nnodes = "x"\n',
        "a",
        "{path}:6: [a].nodes: must be int >= 1 (got 'x')",
    ),
    (
        "multiline-literal-not-a-key",
        "[a]\nsetup = '''\n[b]\nnodes = 1'''\nnodes = 0\n",
        "a",
        "{path}:5: [a].nodes: must be int >= 1 (got 0)",
    ),
    (
        "array-lines-not-headers",
        '[a]\nsrun_args = [\n  "x", # [b]\n]\n[a.sbatch]\nnodes = 1\n[c]\n[a.env_vars]\nX = []\n',
        "a",
        "{path}:9: [a].env_vars.X: must be str, int, float or bool (got [])",
    ),
    (
        "comment-with-quotes",
        '[a] # a "quoted" header\n# nodes = 1 \'\'\'\nnodes = 0 # """\n',
        "a",
        "{path}:3: [a].nodes: must be int >= 1 (got 0)",
    ),
    (
        "subtable-before-table",
        "[a.env_vars]\nX = 1\n[a]\nexclusive = 1\n",
        "a",
        "{path}:4: [a].exclusive: must be bool (got 1)",
    ),
]


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [case[1:] for case in RESOLVE_ERRORS],
    ids=[case[0] for case in RESOLVE_ERRORS],
)
def test_resolve_errors(tmp_path: Path, text: str, name: str, message: str) -> None:
    env = envfile(tmp_path, text)
    with pytest.raises(ProfileError) as caught:
        env.resolve(name)
    assert str(caught.value) == message.replace("{path}", str(env.path))
    assert "\n" not in str(caught.value)


def test_extends_of_errors(tmp_path: Path) -> None:
    env = envfile(tmp_path, "[a]\nextends = 3\n")
    with pytest.raises(ProfileError, match=r"^.*:2: \[a\]\.extends: must be a string \(got 3\)$"):
        env.extends_of("a")
    with pytest.raises(ProfileError, match=r"unknown profile 'b' \(known: a\)$"):
        env.extends_of("b")


BROKEN_NEIGHBOURS = """\
[good]
nodes = 2
[typo]
extends = "godo"
[bad-type]
extends = "good"
nodes = "many"
[loop]
extends = "loop"
[child-of-bad]
extends = "typo"
[fine]
extends = "good"
partition = "p"
"""


def test_broken_profiles_do_not_break_others(tmp_path: Path) -> None:
    env = envfile(tmp_path, BROKEN_NEIGHBOURS)
    assert env.resolve("good").values == {"nodes": 2}
    assert env.resolve("fine").values == {"nodes": 2, "partition": "p"}
    broken = [name for name in env.profile_names if _fails(env, name)]
    assert broken == ["typo", "bad-type", "loop", "child-of-bad"]


def _fails(env: EnvFile, name: str) -> bool:
    try:
        env.resolve(name)
    except ProfileError:
        return True
    return False


# --- checking -----------------------------------------------------------------------

CHECK_TEXT = """\
stray = 1
[wandb]
entity = "team"
[base]
partiton = "p"
nodes = "x"
exclusive = "no"
nemo_run_cluster = "abc"
[dev]
extends = "bse"
Nodes = 2
[prod]
extends = "base"
[cli]
[loop]
extends = "loop"
"""


def test_check_env_file(tmp_path: Path) -> None:
    env = envfile(tmp_path, CHECK_TEXT)
    assert [str(problem) for problem in check_env_file(env)] == [
        f"{env.path}:1: warning: stray: not a table, so not a profile (ignored)",
        f"{env.path}:6: error: [base].nodes: must be int >= 1 (got 'x')",
        f"{env.path}:7: error: [base].exclusive: must be bool (got 'no')",
        f"{env.path}:5: warning: [base].partiton: unknown key (did you mean 'partition'?)",
        f"{env.path}:8: warning: [base].nemo_run_cluster: unknown key",
        f"{env.path}:10: error: [dev].extends: unknown profile 'bse' (chain: dev -> bse)",
        f"{env.path}:11: warning: [dev].Nodes: unknown key (did you mean 'nodes'?)",
        f"{env.path}:16: error: [loop].extends: cycle loop -> loop",
    ]


def test_check_reports_reserved_section_that_is_not_a_table(tmp_path: Path) -> None:
    env = envfile(tmp_path, "cache = [1]\n[a]\n")
    assert [str(problem) for problem in check_env_file(env)] == [
        f"{env.path}:1: error: cache: must be a table (got [1])"
    ]


def test_check_of_a_clean_file_is_empty(tmp_path: Path) -> None:
    assert check_env_file(envfile(tmp_path, ISSUE_EXAMPLE)) == []


# --- rendering ------------------------------------------------------------------------


def test_render_listing(tmp_path: Path) -> None:
    env = envfile(tmp_path, BROKEN_NEIGHBOURS + "[wandb]\n[cli]\n")
    path = env.path
    assert render_listing(env) == "\n".join(
        [
            f"env file: {path}",
            "  good",
            (
                "! typo          extends godo  error: "
                f"{path}:4: [typo].extends: unknown profile 'godo' (chain: typo -> godo)"
            ),
            (
                "! bad-type      extends good  error: "
                f"{path}:7: [bad-type].nodes: must be int >= 1 (got 'many')"
            ),
            f"! loop          extends loop  error: {path}:9: [loop].extends: cycle loop -> loop",
            (
                f"! child-of-bad  extends typo  error: {path}:4: [typo].extends: "
                "unknown profile 'godo' (chain: child-of-bad -> typo -> godo)"
            ),
            "  fine          extends good",
            "settings: wandb, cli",
            "",
        ]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[wandb]\n", "env file: {path}\n  (no profiles)\nsettings: wandb"),
        (
            "[a]\nextends = 1\n",
            (
                "env file: {path}\n! a  extends 1  error: {path}:2: [a].extends: "
                "must be a string (got 1)"
            ),
        ),
    ],
    ids=["no-profiles", "non-string-extends"],
)
def test_render_listing_edges(tmp_path: Path, text: str, expected: str) -> None:
    env = envfile(tmp_path, text)
    assert render_listing(env) == expected.replace("{path}", str(env.path)) + "\n"


def test_listing_without_a_file() -> None:
    assert render_listing(None) == "env file: none found\n"
    assert listing_json(None) == {"env_file": None, "profiles": [], "settings": []}


def test_listing_json(tmp_path: Path) -> None:
    env = envfile(tmp_path, ISSUE_EXAMPLE + "[bad]\nextends = 2\n")
    data = listing_json(env)
    assert json.loads(json.dumps(data)) == {
        "env_file": str(env.path),
        "profiles": [
            {"name": "base", "extends": None, "error": None},
            {"name": "dev", "extends": "base", "error": None},
            {"name": "prod", "extends": "dev", "error": None},
            {
                "name": "bad",
                "extends": 2,
                "error": f"{env.path}:23: [bad].extends: must be a string (got 2)",
            },
        ],
        "settings": ["wandb"],
    }


def test_render_profile(tmp_path: Path) -> None:
    env = envfile(tmp_path, ISSUE_EXAMPLE + '[dev.env_vars]\nHF_HOME = "/hf"\n')
    profile = env.resolve("prod")
    assert render_profile(profile) == "\n".join(
        [
            f"# profile prod (prod -> dev -> base) from {env.path}",
            'executor = "slurm"',
            'account = "my-account"',
            'remote_job_dir = "/lustre/jobs"',
            'env_vars.NCCL_DEBUG = "WARN"',
            'env_vars.HF_HOME = "/hf"',
            'partition = "prod-gpu"',
            "nodes = 8",
            'job_dir = "${run.env.remote_job_dir}/prod"',
            "",
        ]
    )
    assert render_profile(profile, explain=True).splitlines()[1:] == [
        'executor = "slurm"                          # from base',
        'account = "my-account"                      # from base',
        'remote_job_dir = "/lustre/jobs"             # from base',
        'env_vars.NCCL_DEBUG = "WARN"                # from base',
        'env_vars.HF_HOME = "/hf"                    # from dev',
        'partition = "prod-gpu"                      # from prod',
        "nodes = 8                                   # from prod",
        'job_dir = "${run.env.remote_job_dir}/prod"  # from prod',
    ]


def test_profile_json(tmp_path: Path) -> None:
    env = envfile(tmp_path, ISSUE_EXAMPLE + "[dev.sbatch]\nbegin = 1979-05-27T07:32:00Z\n")
    data = profile_json(env.resolve("dev"))
    assert json.loads(json.dumps(data)) == {
        "name": "dev",
        "env_file": str(env.path),
        "chain": ["dev", "base"],
        "values": {
            "executor": "slurm",
            "account": "my-account",
            "remote_job_dir": "/lustre/jobs",
            "env_vars": {"NCCL_DEBUG": "WARN"},
            "partition": "dev-gpu",
            "nodes": 1,
            "sbatch": {"begin": "1979-05-27T07:32:00+00:00"},
        },
        "origins": {
            "executor": "base",
            "account": "base",
            "remote_job_dir": "base",
            "env_vars": "base",
            "partition": "dev",
            "nodes": "dev",
            "sbatch": "dev",
        },
        "leaf_origins": {
            "executor": "base",
            "account": "base",
            "remote_job_dir": "base",
            "env_vars.NCCL_DEBUG": "base",
            "partition": "dev",
            "nodes": "dev",
            "sbatch.begin": "dev",
        },
    }


TOML_SCALARS = (
    st.text()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), TOML_VALUES, max_size=5))
def test_render_profile_is_toml_of_the_values(values: dict[str, Any]) -> None:
    values.pop("extends", None)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "env.toml")
        lines = render_profile(_profile_of(values, path)).split("\n")[1:]
        text = "[p]\n" + "\n".join(lines)
        path.write_text(text, encoding="utf-8")
        assert EnvFile.load(path).data == {"p": values}


def _profile_of(values: dict[str, Any], path: Path) -> Any:
    from runspec.profiles import Profile

    return Profile.from_chain([("p", values)], path)


# --- robustness -----------------------------------------------------------------------

TOML_PIECES = st.sampled_from(
    [
        "[a]",
        "[b]",
        "[a.env_vars]",
        "[wandb]",
        "[[a.x]]",
        '["q.r"]',
        "a.b = 1",
        "\n",
        " ",
        'extends = "a"',
        'extends = "b"',
        "extends = 3",
        'extends = "wandb"',
        "nodes = 1",
        'nodes = "x"',
        "mounts = [",
        "]",
        "{",
        "}",
        '"""',
        "'''",
        '"',
        "'",
        "#",
        "=",
        ".",
        "env_vars = { X = 1 }",
        "setup = '''\n[b]\nnodes = 0'''",
        "\\",
        "x = 1979-05-27",
        "k = inf",
        'partiton = "p"',
        "code = 'live'",
        ",",
        "\r\n",
    ]
)


def _check_everything(text: str) -> None:
    try:
        env = EnvFile.from_text(text, "env.toml")
    except ProfileError:
        return
    render_listing(env)
    json.dumps(listing_json(env))
    for problem in check_env_file(env):
        assert "\n" not in str(problem)
    for name in (*env.profile_names, *RESERVED, "missing"):
        try:
            profile = env.resolve(name)
        except ProfileError as error:
            assert "\n" not in str(error)
            continue
        render_profile(profile, explain=True)
        json.dumps(profile_json(profile))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_loads_or_raises_profile_error(text: str) -> None:
    _check_everything(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(TOML_PIECES, max_size=25).map(lambda pieces: "\n".join(pieces)))
def test_toml_like_text_loads_or_raises_profile_error(text: str) -> None:
    _check_everything(text)


def test_deep_nesting_is_a_profile_error() -> None:
    with pytest.raises(RunspecError, match=r"^env\.toml: invalid TOML: nested more than 100 levels deep$"):
        EnvFile.from_text("x = " + "[" * 5000, "env.toml")


# --- docs -------------------------------------------------------------------------------


def _toml_blocks(name: str) -> list[str]:
    text = (DOCS / name).read_text(encoding="utf-8")
    return re.findall(r"^```toml\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("name", ["profiles.md", "templates.md"])
def test_docs_toml_examples_parse(name: str) -> None:
    blocks = _toml_blocks(name)
    assert blocks
    for block in blocks:
        loads(block)


def test_docs_name_every_known_key_with_its_type() -> None:
    text = (DOCS / "profiles.md").read_text(encoding="utf-8")
    for key, kind in KNOWN_KEYS.items():
        assert re.search(rf"^\| `{key}` \| {re.escape(kind)} \|", text, flags=re.MULTILINE), key
    for name in RESERVED:
        assert f"`{name}`" in text


def test_docs_main_example_resolves_as_described(tmp_path: Path) -> None:
    env = envfile(tmp_path, _toml_blocks("profiles.md")[0])
    assert check_env_file(env) == []
    assert env.resolve("prod").values == {
        "executor": "slurm",
        "account": "my-account",
        "remote_job_dir": "/lustre/jobs",
        "env_vars": {"NCCL_DEBUG": "WARN", "HF_HOME": "/lustre/hf"},
        "mounts": ["/lustre:/lustre"],
        "partition": "prod-gpu",
        "nodes": 8,
        "gpus_per_node": 8,
        "job_dir": "${run.env.remote_job_dir}/prod",
    }
