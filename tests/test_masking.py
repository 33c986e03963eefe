"""Which values are secrets, and how every printed view masks them."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runspec._masking import (
    MASK,
    has_secrets,
    is_reference,
    is_secret,
    masked,
    masked_argv,
    masked_tree,
    shown,
)

# The two lists of the masking rule: what is masked, and what is not.
MASKED = [
    ("HF_TOKEN", "hf_abc", MASK),
    ("WANDB_API_KEY", "w123", MASK),
    ("db_password", "pw", MASK),
    ("api_tokens", ["a", "b"], [MASK, MASK]),
    ("api_key", "dummy", MASK),
    ("db.Password", "pw", MASK),
    ("ssh-keys", {"main": "k1", "spare": ["k2", 3]}, {"main": MASK, "spare": [MASK, 3]}),
    ("SECRETS", "s", MASK),
    ("passwd", "p", MASK),
    ("aws_credentials", "c", MASK),
    ("service-credential", "c", MASK),
    ("Key", "k", MASK),
    ("token", "prefix-${oc.env:X}", MASK),
]
NOT_MASKED = [
    ("TOKENIZERS_PARALLELISM", "false"),
    ("moe_token_dispatcher_type", "alltoall"),
    ("num_key_value_heads", 8),
    ("max_doc_tokens", None),
    ("max_new_tokens", "${policy.max_len}"),
    ("api_key_env", None),
    ("forward_ngc_api_key", False),
    ("hf_token", "${oc.env:HF_TOKEN}"),
    ("hf_token", "${oc.env:HF_TOKEN,${oc.env:HF_HOME}}"),
    ("tokens", 12),
    ("keys", [1, 2.5, None, True]),
    ("monkey", "banana"),
    ("keyboard", "qwerty"),
    ("primary_key_column", "id"),
]


@pytest.mark.parametrize(("key", "value", "expected"), MASKED, ids=[k for k, _, _ in MASKED])
def test_masked(key, value, expected):
    assert masked_tree({"outer": {key: value}}) == {"outer": {key: expected}}
    assert has_secrets({key: value})


@pytest.mark.parametrize(("key", "value"), NOT_MASKED, ids=[k for k, _ in NOT_MASKED])
def test_not_masked(key, value):
    assert masked_tree({"outer": {key: value}}) == {"outer": {key: value}}
    assert not has_secrets({key: value})


def test_secret_names_split_on_underscore_dash_and_dot():
    assert [is_secret(name) for name in ("a.b.token", "a-key", "x_Secrets", "tokenizer")] == [
        True, True, True, False,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("${a.b}", True),
        (" ${a} ${b} ", True),
        ("${oc.env:A,${b}}", True),
        ("x${a}", False),
        ("${unclosed", False),
        ("", False),
        ("$HOME", False),
    ],
)
def test_is_reference(text, reference):
    assert is_reference(text) is reference


def test_env_masking_by_name():
    env = {"HF_TOKEN": "x", "PATH": "/bin", "GH_TOKEN": "${oc.env:GH_TOKEN}"}
    assert masked(env) == {"HF_TOKEN": MASK, "PATH": "/bin", "GH_TOKEN": "${oc.env:GH_TOKEN}"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "t.py", "api_key=abc"], ["run", "t.py", f"api_key={MASK}"]),
        (["run.env.env_vars.HF_TOKEN=abc"], [f"run.env.env_vars.HF_TOKEN={MASK}"]),
        (["++db.password='x y'"], [f"++db.password={MASK}"]),
        (["~api_key"], ["~api_key"]),
        (["train.lr=0.1", "num_key_value_heads=8"], ["train.lr=0.1", "num_key_value_heads=8"]),
        (
            ['run.env.env_vars={"HF_TOKEN": "abc", "A": "b"}'],
            [f'run.env.env_vars={{"HF_TOKEN": "{MASK}", "A": "b"}}'],
        ),
        (["--", "--api-key", "abc", "--seed", "1"], ["--", "--api-key", MASK, "--seed", "1"]),
        (["--", "--hf-token=abc"], ["--", f"--hf-token={MASK}"]),
        (["--token", "--next"], ["--token", "--next"]),
    ],
    ids=["override", "env-var", "force-quoted", "delete", "plain", "json", "option", "equals",
         "option-without-value"],
)  # fmt: skip
def test_masked_argv(argv, expected):
    assert masked_argv(argv) == expected


def test_shown_hides_values_of_secret_keys():
    assert shown(["a"], "run.env.env_vars.HF_TOKEN") == repr(MASK)
    assert shown(["a"], "run.env.nodes") == "['a']"


# -- property tests: whatever the tree, no secret string survives masking ----------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_KEYS = st.sampled_from(["a", "HF_TOKEN", "keys", "x-secret", "num_key_value_heads", "b.c"])
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=20,
)


def _secret_strings(tree, under=False):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _secret_strings(value, under or is_secret(key))
    elif isinstance(tree, list):
        for item in tree:
            yield from _secret_strings(item, under)
    elif under and isinstance(tree, str) and not is_reference(tree):
        yield tree


# Generous settings: the suite runs on a loaded 2-core machine.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _TREES, max_size=4))
def test_masking_leaves_no_secret_string(tree):
    out = masked_tree(tree)
    assert list(_secret_strings(out)) == [MASK] * len(list(_secret_strings(tree)))
    assert has_secrets(tree) == bool(list(_secret_strings(tree)))
    json.dumps(out)  # still a JSON-ready tree


# -- the CLI: every printed view masks, --show-secrets reveals ----------------------------

RECIPE = """\
[tool.runspec]
name = "masking"
[tool.runspec.run]
launch = "direct"
[tool.runspec.config]
format = "json"
[tool.runspec.env]
RECIPE_TOKEN = "from-recipe-s3cr3t"
"""
CONFIG = {
    "api_tokens": ["tok-s3cr3t-1", "tok-s3cr3t-2"],
    "credentials": {"user": "bob-s3cr3t", "port": 5432},
    "num_key_value_heads": 8,
    "max_doc_tokens": None,
}
ENV = """\
[dev]
nodes = 1
[dev.env_vars]
HF_TOKEN = "hf-s3cr3t"
TOKENIZERS_PARALLELISM = "false"
"""


@pytest.fixture
def project(tmp_path, write_recipe, monkeypatch):
    script = write_recipe("masking.py", RECIPE)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text(json.dumps(CONFIG))
    (tmp_path / "env.toml").write_text(ENV)
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    return script


PRINTING = [
    ["show", "{script}"],
    ["show", "--json", "{script}"],
    ["config", "{script}", "-p", "dev"],
    ["config", "{script}", "-p", "dev", "--json"],
    ["run", "{script}", "-p", "dev", "--dry-run"],
    ["pipe", "-p", "dev", "--dry-run", "{script}", "+", "{script}"],
    ["env", "dev"],
    ["env", "dev", "--explain"],
    ["env", "dev", "--json"],
]


@pytest.mark.parametrize("argv", PRINTING, ids=[" ".join(argv) for argv in PRINTING])
def test_printed_views_mask_and_show_secrets_reveals(cli, project, argv):
    words = [word.format(script=project) for word in argv]
    hidden = cli(*words)
    assert hidden.code == 0, hidden.err
    assert "s3cr3t" not in hidden.out + hidden.err
    assert MASK in hidden.out
    shown_out = cli(words[0], "--show-secrets", *words[1:])
    assert shown_out.code == 0, shown_out.err
    assert "s3cr3t" in shown_out.out


def test_config_masks_lists_and_tables_but_not_lookalikes(cli, project):
    done = cli("config", project, "-p", "dev", "--json")
    config = json.loads(done.out)
    assert config["api_tokens"] == [MASK, MASK]
    assert config["credentials"] == {"user": MASK, "port": 5432}
    assert config["num_key_value_heads"] == 8
    assert config["max_doc_tokens"] is None
    assert config["run"]["env"]["env_vars"]["HF_TOKEN"] == MASK
    assert config["run"]["env"]["env_vars"]["TOKENIZERS_PARALLELISM"] == "false"


def test_sbatch_prints_masked_unless_show_secrets(cli, project):
    (project.parent / "env.toml").write_text(
        '[dev]\nexecutor = "slurm"\n[dev.env_vars]\nHF_TOKEN = "hf-s3cr3t"\n'
    )
    hidden = cli("sbatch", project, "-p", "dev")
    assert hidden.code == 0, hidden.err
    assert "s3cr3t" not in hidden.out
    assert "s3cr3t" in cli("sbatch", project, "-p", "dev", "--show-secrets").out


def test_run_record_masks_argv_and_is_private(runspec, project, tmp_path):
    done = runspec(
        "run", str(project), "-p", "dev", "++api_key=k-s3cr3t", "--", "--hf-token", "a-s3cr3t",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / ".runspec" / "jobs").iterdir()
    record = folder / "runspec.json"
    assert "s3cr3t" not in record.read_text()
    assert json.loads(record.read_text())["argv"][-4:] == [
        f"++api_key={MASK}", "--", "--hf-token", MASK,
    ]  # fmt: skip
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "config.json").st_mode) == 0o600


def test_record_without_secrets_is_readable_but_folder_private(runspec, project, tmp_path):
    (tmp_path / "config" / "default.json").write_text('{"a": 1}')
    done = runspec("run", str(project), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / ".runspec" / "jobs").iterdir()
    # the recipe's env holds RECIPE_TOKEN, so the job holds a secret
    assert stat.S_IMODE(os.stat(folder / "runspec.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def _no_secret_recipe(path: Path) -> None:
    path.write_text(path.read_text().replace('RECIPE_TOKEN = "from-recipe-s3cr3t"', 'A = "b"'))


def test_record_of_a_job_without_secrets_is_world_readable(runspec, project, tmp_path):
    _no_secret_recipe(project)
    (tmp_path / "config" / "default.json").write_text('{"a": 1}')
    done = runspec("run", str(project), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / ".runspec" / "jobs").iterdir()
    assert stat.S_IMODE(os.stat(folder / "runspec.json").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


# -- error messages never echo a secret ----------------------------------------------------

MARK = "S3CR3T"
BAD_PROFILES = {
    "list": f'HF_TOKEN = ["{MARK}"]',
    "table": f'HF_TOKEN = {{ a = "{MARK}" }}',
    "nul": f'HF_TOKEN = "{MARK}\\u0000"',
}
BAD_OVERRIDES = {
    "list": f'run.env.env_vars.HF_TOKEN=["{MARK}"]',
    "unterminated": f"run.env.env_vars.HF_TOKEN='{MARK}",
    "bad-json-string": f'++api_key="{MARK}\\x"',
    "nested": f'run.env.env_vars={{"HF_TOKEN": ["{MARK}"]}}',
    "nul": f'run.env.env_vars.HF_TOKEN="{MARK}\\u0000"',
    "bad-json": f'++db_password=["{MARK}"',
}


def _run_quietly(*argv: str) -> tuple[int, str]:
    import contextlib
    import io

    from runspec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("line", BAD_PROFILES.values(), ids=BAD_PROFILES)
@pytest.mark.parametrize("executor", ["local", "slurm"])
def test_errors_about_profile_secrets_do_not_echo_them(project, line, executor):
    (project.parent / "env.toml").write_text(
        f'[dev]\nexecutor = "{executor}"\n[dev.env_vars]\n{line}\n'
    )
    for argv in (["env", "--check"], ["env", "dev"], ["config", str(project), "-p", "dev"],
                 ["run", str(project), "-p", "dev", "--dry-run"],
                 ["sbatch", str(project), "-p", "dev"]):  # fmt: skip
        code, text = _run_quietly(*argv)
        assert MARK not in text, (argv, text)
        assert code == 1 or argv[:2] == ["env", "dev"], (argv, text)


@pytest.mark.parametrize("override", BAD_OVERRIDES.values(), ids=BAD_OVERRIDES)
@pytest.mark.parametrize("command", ["config", "sbatch", "run"])
def test_errors_about_override_secrets_do_not_echo_them(project, override, command):
    (project.parent / "env.toml").write_text('[dev]\nexecutor = "slurm"\n')
    extra = ["--dry-run"] if command == "run" else []
    _, text = _run_quietly(command, str(project), "-p", "dev", override, *extra)
    assert MARK not in text, text


def test_errors_about_recipe_secrets_do_not_echo_them(write_recipe):
    script = write_recipe("r.py", f'[tool.runspec]\n[tool.runspec.env]\nHF_TOKEN = ["{MARK}"]\n')
    for argv in (["check", str(script)], ["show", str(script)], ["config", str(script)]):
        _, text = _run_quietly(*argv)
        assert MARK not in text, (argv, text)
        assert "HF_TOKEN: must be a string (got '********')" in text


_NESTED = st.recursive(
    st.just(MARK) | st.integers() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["HF_TOKEN", "API_KEYS", "db_password"]), _NESTED,
                       min_size=1, max_size=3))  # fmt: skip
def test_no_override_of_secret_env_vars_echoes_them(tmp_path_factory, env_vars):
    folder = tmp_path_factory.mktemp("hostile")
    script = folder / "r.py"
    script.write_text(
        "# /// script\n# [tool.runspec]\n# [tool.runspec.config]\n# format = \"json\"\n# ///\n"
    )
    (folder / "config").mkdir()
    (folder / "config" / "default.json").write_text("{}")
    override = "run.env.env_vars=" + json.dumps(env_vars)
    for argv in (["config", str(script), override],
                 ["run", str(script), override, "--dry-run"]):  # fmt: skip
        _, text = _run_quietly(*argv)
        assert MARK not in text, (argv, text)
