"""``runspec artifacts``: every command, its output and its one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import REPO, Result


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "registry"
    monkeypatch.setenv("RUNSPEC_ARTIFACTS_ROOT", str(root))
    monkeypatch.delenv("RUNSPEC_JOB_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "train.jsonl").write_text("{}\n")
    (tmp_path / "out" / "sub").mkdir()
    (tmp_path / "out" / "sub" / "valid.jsonl").write_text("{}\n{}\n")
    return root


Cli = Callable[..., Result]


def test_publish_show_list_get(cli: Cli, registry: Path, tmp_path: Path) -> None:
    done = cli("artifacts", "publish", "data", "out", "--meta", "rows=3", "--meta", "note=hi")
    assert done.code == 0, done.err
    assert done.out.startswith("published data:v1: 2 files, 9 bytes, at ")
    assert cli("artifacts", "publish", "data", "out/train.jsonl").code == 0
    shown = cli("artifacts", "show", "data:v1")
    lines = shown.out.splitlines()
    assert lines[0] == "data:v1"
    assert lines[2:] == [
        f"  created    {lines[2].split()[-1]}",
        "  mode       copy",
        "  files      2 (9 bytes)",
        f"  source     {tmp_path / 'out'}",
        "  job        -",
        "  inputs     -",
        "  aliases    -",
        "  meta.rows  3",
        '  meta.note  "hi"',
    ]
    data = json.loads(cli("artifacts", "show", "data", "--json", "--files").out)
    assert (data["ref"], data["aliases"], data["files"]) == ("data:v2", ["latest"], {"train.jsonl": 3})
    listing = cli("artifacts", "list")
    assert listing.out.splitlines()[0].split() == ["NAME", "LATEST", "VERSIONS", "CREATED"]
    assert listing.out.splitlines()[1].split()[:3] == ["data", "v2", "2"]
    rows = json.loads(cli("artifacts", "list", "--json").out)
    assert [(r["name"], r["latest"], r["versions"], r["aliases"]) for r in rows] == [
        ("data", "v2", 2, ["latest"])
    ]
    got = cli("artifacts", "get", "data:v1", str(tmp_path / "copy"))
    assert got.out == f"data:v1: 2 files into {tmp_path / 'copy'}\n"
    assert (tmp_path / "copy" / "sub" / "valid.jsonl").read_text() == "{}\n{}\n"


def test_alias_and_lineage(cli: Cli, registry: Path) -> None:
    cli("artifacts", "publish", "data", "out")
    cli("artifacts", "publish", "data", "out")
    assert cli("artifacts", "alias", "data", "v1", "best").out == "data:best -> v1\n"
    assert json.loads(cli("artifacts", "show", "data:best", "--json").out)["aliases"] == ["best"]
    tree = json.loads(cli("artifacts", "lineage", "data", "--json").out)
    assert (tree["ref"], tree["inputs"], tree["job_dir"]) == ("data:v2", [], None)


def test_empty_registry(cli: Cli, registry: Path) -> None:
    assert cli("artifacts", "list") == Result(0, "", f"no artifacts in {registry}\n")
    assert cli("artifacts", "list", "--json") == Result(0, "[]\n", "")


ERRORS = [
    ("unknown-artifact", ["show", "nope"], "no artifact 'nope' in {root} (artifacts: data)"),
    ("unknown-version", ["show", "data:v7"], "data has no version v7 (versions: v1)"),
    ("unknown-alias", ["lineage", "data:best"], "data has no alias 'best' (aliases: latest)"),
    ("bad-meta", ["publish", "data", "out", "--meta", "rows"], "--meta takes KEY=VALUE (got 'rows')"),
    ("missing-source", ["publish", "data", "nothing"], "nothing to publish: no such file or folder '{tmp}/nothing'"),
    ("get-into-file", ["get", "data", "out/train.jsonl"], "out/train.jsonl: exists and is not an empty folder"),
    ("latest-alias", ["alias", "data", "v1", "latest"], "'latest' always names the newest version and cannot be set"),
]


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors_are_one_line(
    cli: Cli, registry: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    cli("artifacts", "publish", "data", "out")
    result = cli("artifacts", *args)
    expected = message.format(root=registry, tmp=tmp_path)
    assert result == Result(1, "", f"runspec: error: {expected}\n")


def test_no_registry_configured(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNSPEC_ARTIFACTS_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    assert cli("artifacts", "list") == Result(
        1, "", "runspec: error: no artifact registry configured: set RUNSPEC_ARTIFACTS_ROOT "
        'or add [artifacts] root = "..." to env.toml\n',
    )  # fmt: skip


@pytest.mark.parametrize(
    "section",
    ['[artifacts]\nroot = "reg"\n', '[artifacts.manifest]\nroot = "reg"\n'],
    ids=["root", "manifest-root"],
)
def test_env_toml_names_the_registry(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    monkeypatch.delenv("RUNSPEC_ARTIFACTS_ROOT", raising=False)
    (tmp_path / "project" / "sub").mkdir(parents=True)
    (tmp_path / "project" / ".git").mkdir()
    (tmp_path / "project" / "env.toml").write_text(section)
    (tmp_path / "project" / "sub" / "f.txt").write_text("x")
    monkeypatch.chdir(tmp_path / "project" / "sub")
    assert cli("artifacts", "publish", "data", "f.txt").code == 0
    assert (tmp_path / "project" / "reg" / "data" / "v1" / "manifest.json").is_file()
    monkeypatch.setenv("RUNSPEC_ARTIFACTS_ROOT", str(tmp_path / "other"))
    assert cli("artifacts", "list", "--json").out == "[]\n"


def test_usage_errors_exit_2(cli: Cli, registry: Path) -> None:
    result = cli("artifacts", "show")
    assert result.code == 2
    assert result.err.endswith("runspec artifacts show: error: the following arguments are required: NAME[:VERSION]\n")
    assert cli("artifacts", "--help").out.startswith("usage: runspec artifacts [-h] COMMAND ...")


def test_publish_on_s3(cli: Cli, s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("abc")
    root = f"s3://{s3_env['bucket']}/reg"
    done = cli("artifacts", "publish", "--root", root, "data", "a.txt")
    assert done.code == 0, done.err
    assert done.out.startswith(f"published data:v1: 1 file, 3 bytes, at {root}/data/files/")
    assert json.loads(cli("artifacts", "show", "--root", root, "data", "--json").out)["size"] == 3


MISSING = [
    ("fsspec", ["fsspec"], "s3://bucket/x", "runspec: error: opening the artifact registry needs fsspec, which is not installed: pip install 'runspec[artifacts]'\n"),
    ("s3fs", ["s3fs"], "s3://bucket/x", "runspec: error: opening the artifact registry 's3://bucket/x' needs s3fs, which is not installed: pip install 'runspec[artifacts]'\n"),
]


@pytest.mark.parametrize(("hidden", "root", "message"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
def test_a_missing_package_is_named(tmp_path: Path, hidden: list[str], root: str, message: str) -> None:
    from tests.test_extras_missing import hiding, python

    done = python(hiding(*hidden), "artifacts", "list", "--root", root, pythonpath=[REPO], cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", message)


def test_a_core_without_runspec_extras_names_the_extra(tmp_path: Path) -> None:
    from tests.test_extras_missing import CLI, _copy, python

    site = _copy(tmp_path, "runspec")
    done = python(CLI, "artifacts", "list", pythonpath=[site], cwd=tmp_path, site=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "runspec: error: runspec artifacts needs runspec_extras, which is not installed: "
        "pip install 'runspec[artifacts]'\n"
    )
