"""The command line: show, check, list, bad input and usage errors.

Most cases call ``runspec.cli.main`` in this process (fast); the ``real`` cases
run ``python -m runspec`` in a subprocess to prove the same end to end.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import REPO, Result, block

HELLO = REPO / "examples" / "hello" / "train.py"
SHOW_KEYS = {
    "schema", "docs", "name", "image", "setup", "run", "config", "resources", "env",
    "script_path", "config_dir",
}  # fmt: skip
Cli = Callable[..., Result]

# --- show -----------------------------------------------------------------------------


def test_show_summary(cli: Cli) -> None:
    result = cli("show", HELLO)
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "name       examples/hello\n"
        f"script     {HELLO}\n"
        "image      (none)\n"
        "launch     direct\n"
        "workdir    (none)\n"
        "resources  1 node(s) x 0 GPU(s)\n"
        f"config     {HELLO.parent}/config/default (json)\n"
        "env        HELLO_GREETING=hello from runspec\n"
        "docs       (none)\n"
        "python     >=3.10\n"
        "depends    (none)\n"
        "setup      Plain Python: runs anywhere, no packages needed.\n"
    )


def test_show_summary_of_a_full_recipe(cli: Cli, write_recipe: Callable[..., Path]) -> None:
    path = write_recipe(
        "r.py",
        'dependencies = ["numpy", "rich"]\n[tool.runspec]\nname = "llm/sft"\n'
        'image = "nvcr.io/x:1"\ndocs = "https://d"\nsetup = """\nline one\nline two\n"""\n'
        '[tool.runspec.run]\nlaunch = "ray"\ncmd = "python {script} --config {config}"\n'
        'workdir = "/w"\n[tool.runspec.config]\ndefault = "big"\n'
        '[tool.runspec.resources]\nnodes = 4\n[tool.runspec.env]\nA = "1"\nB = "2"',
    )
    assert cli("show", path).out == (
        "name       llm/sft\n"
        f"script     {path}\n"
        "image      nvcr.io/x:1\n"
        "launch     ray (cmd: python {script} --config {config})\n"
        "workdir    /w\n"
        "resources  4 node(s) x 8 GPU(s)\n"
        f"config     {path.parent}/config/big (omegaconf)\n"
        "env        A=1, B=2\n"
        "docs       https://d\n"
        "depends    numpy, rich\n"
        "setup      line one\n"
        "           line two\n"
    )


@pytest.mark.parametrize(
    ("toml", "extra"),
    [
        ("[tool.runspec]", set()),
        ("dependencies = []\n[tool.runspec]", {"dependencies"}),
        ('requires-python = ">=3.11"\n[tool.runspec]', {"requires_python"}),
    ],
    ids=["plain", "dependencies", "requires-python"],
)
def test_show_json_keys(
    cli: Cli, write_recipe: Callable[..., Path], toml: str, extra: set[str]
) -> None:
    data = json.loads(cli("show", "--json", write_recipe("r.py", toml)).out)
    assert set(data) == SHOW_KEYS | extra
    assert set(data["run"]) == {"launch", "cmd", "workdir"}
    assert set(data["config"]) == {"dir", "default", "format"}
    assert set(data["resources"]) == {"nodes", "gpus_per_node"}


def test_show_json_of_the_example(cli: Cli) -> None:
    data = json.loads(cli("show", "--json", HELLO).out)
    assert data == {
        "schema": "1",
        "docs": "",
        "name": "examples/hello",
        "image": None,
        "setup": "Plain Python: runs anywhere, no packages needed.",
        "run": {"launch": "direct", "cmd": None, "workdir": None},
        "config": {"dir": "./config", "default": "default", "format": "json"},
        "resources": {"nodes": 1, "gpus_per_node": 0},
        "env": {"HELLO_GREETING": "hello from runspec"},
        "script_path": str(HELLO),
        "config_dir": str(HELLO.parent / "config"),
        "dependencies": [],
        "requires_python": ">=3.10",
    }


def test_show_reports_problems_on_stderr(cli: Cli, write_recipe: Callable[..., Path]) -> None:
    path = write_recipe(
        "r.py", '[tool.runspec.run]\nlaunch = "python"\n[tool.runspec.resources]\nnodes = "2"'
    )
    result = cli("show", "--json", path)
    assert result.code == 0
    assert json.loads(result.out)["resources"]["nodes"] == "2"
    assert result.err == (
        f"runspec: {path}:3: warning: tool.runspec.run.launch: 'python' is read as 'direct';"
        " write launch = 'direct'\n"
        f"runspec: {path}:5: error: tool.runspec.resources.nodes: must be an integer (got '2')\n"
    )


def test_show_json_with_toml_dates(cli: Cli, write_recipe: Callable[..., Path]) -> None:
    result = cli("show", "--json", write_recipe("r.py", "[tool.runspec]\nname = 2024-05-01"))
    assert json.loads(result.out)["name"] == "2024-05-01"


# --- check ----------------------------------------------------------------------------

GOOD = '[tool.runspec]\nname = "good"'
WARN = '[tool.runspec]\nname = "warn"\n[tool.runspec.run]\nlaunch = "python"'
WARNING = "warning: tool.runspec.run.launch: 'python' is read as 'direct'; write launch = 'direct'"


def test_check_a_good_file(cli: Cli, write_recipe: Callable[..., Path]) -> None:
    result = cli("check", write_recipe("good.py", GOOD))
    assert result == Result(0, "checked 1 file: 0 error(s), 0 warning(s)\n", "")


@pytest.fixture
def tree(
    tmp_path: Path, write_recipe: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A folder of recipes, non-recipes and folders that discovery must skip; cwd is its parent."""
    write_recipe("a/good.py", GOOD)
    write_recipe("a/b/c/warn.py", WARN)
    (tmp_path / "a/b/two.py").write_text(block(GOOD) + block(GOOD), encoding="utf-8")
    (tmp_path / "a/plain.py").write_text("print('no block')\n", encoding="utf-8")
    (tmp_path / "a/notes.txt").write_text(block(GOOD), encoding="utf-8")
    (tmp_path / "a/scripts.py").write_text("# /// scripts\n#\n# ///\n", encoding="utf-8")
    broken = '[tool.runspec]\nname = "skipped"\nnodes = "x"'
    for skipped in (".git", ".venv", "node_modules", "__pycache__", "myenv"):
        write_recipe(f"a/{skipped}/r.py", broken)
    (tmp_path / "a/myenv/pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "a"


def test_check_a_folder_recursively(cli: Cli, tree: Path) -> None:
    result = cli("check", "a")
    assert result == Result(
        1,
        f"a/b/c/warn.py:5: {WARNING}\n"
        "a/b/two.py:5: error: several '# /// script' blocks (opened at lines 1 and 5)\n"
        "checked 3 files: 1 error(s), 1 warning(s)\n",
        "",
    )


def test_check_reports_broken_files_and_goes_on(cli: Cli, tree: Path) -> None:
    (tree / "latin1.py").write_bytes(b"# \xe9\n")
    result = cli("check", "a/plain.py", "a/latin1.py", "a/good.py", "a/b/c")
    assert result.out == (
        "a/plain.py: error: no '# /// script' metadata block\n"
        "a/latin1.py: error: not valid UTF-8 (byte 0xe9 at offset 2)\n"
        f"a/b/c/warn.py:5: {WARNING}\n"
        "checked 4 files: 2 error(s), 1 warning(s)\n"
    )
    assert result.code == 1


@pytest.mark.parametrize(
    ("files", "strict", "code"),
    [
        (["good"], False, 0),
        (["good"], True, 0),
        (["good", "warn"], False, 0),
        (["good", "warn"], True, 1),
        (["bad"], False, 1),
        (["bad", "warn"], True, 1),
    ],
    ids=["clean", "clean-strict", "warning", "warning-strict", "error", "error-strict"],
)
def test_check_exit_codes(
    cli: Cli, write_recipe: Callable[..., Path], files: list[str], strict: bool, code: int
) -> None:
    bodies = {"good": GOOD, "warn": WARN, "bad": "[tool.runspec]\nnodes = 1"}
    paths = [write_recipe(f"{name}.py", bodies[name]) for name in files]
    assert cli("check", *paths, *(["--strict"] if strict else [])).code == code


def test_check_json(cli: Cli, tree: Path) -> None:
    (tree / "none.py").write_text("x = 1\n", encoding="utf-8")
    result = cli("check", "--json", "a/none.py", "a/b/c/warn.py")
    assert result.code == 1
    assert json.loads(result.out) == {
        "files": 2,
        "errors": 1,
        "warnings": 1,
        "problems": [
            {
                "path": "a/none.py",
                "line": None,
                "severity": "error",
                "key": None,
                "message": "no '# /// script' metadata block",
            },
            {
                "path": "a/b/c/warn.py",
                "line": 5,
                "severity": "warning",
                "key": "tool.runspec.run.launch",
                "message": "'python' is read as 'direct'; write launch = 'direct'",
            },
        ],
    }


def test_discovery_passes_over_entries_it_cannot_read(cli: Cli, tree: Path) -> None:
    (tree / "folder.py").mkdir()
    (tree / "loop.py").symlink_to("loop.py")
    (tree / "bom.py").write_bytes(b"\xef\xbb\xbf" + block(GOOD).encode())
    result = cli("check", "a")
    assert result.code == 1
    assert result.out.endswith("checked 4 files: 1 error(s), 1 warning(s)\n")


def test_check_an_empty_folder(cli: Cli, tmp_path: Path) -> None:
    assert cli("check", tmp_path) == Result(0, "checked 0 files: 0 error(s), 0 warning(s)\n", "")


# --- list -----------------------------------------------------------------------------


def _list_tree(tmp_path: Path, write_recipe: Callable[..., Path]) -> None:
    write_recipe("r/zeta.py", '[tool.runspec]\nname = "zeta"\nimage = "img:1"')
    write_recipe(
        "r/deep/er/alpha.py",
        '[tool.runspec]\nname = "alpha"\n[tool.runspec.resources]\nnodes = 2\ngpus_per_node = 4',
    )
    write_recipe("r/mid.py", '[tool.runspec]\nname = "mid"\n[tool.runspec.run]\nlaunch = "direct"')
    for skipped in (".git", ".venv", "node_modules", "__pycache__", "env"):
        write_recipe(f"r/{skipped}/x.py", '[tool.runspec]\nname = "skipped"')
    (tmp_path / "r/env/pyvenv.cfg").write_text("", encoding="utf-8")


def test_list_table(cli: Cli, tmp_path: Path, write_recipe: Callable[..., Path]) -> None:
    _list_tree(tmp_path, write_recipe)
    result = cli("list", tmp_path / "r")
    r = tmp_path / "r"
    assert result == Result(
        0,
        "NAME   LAUNCH    IMAGE  NODES x GPUS  PATH\n"
        f"alpha  torchrun  -      2 x 4         {r}/deep/er/alpha.py\n"
        f"mid    direct    -      1 x 8         {r}/mid.py\n"
        f"zeta   torchrun  img:1  1 x 8         {r}/zeta.py\n",
        "",
    )


def test_list_defaults_to_the_current_folder(
    cli: Cli, tmp_path: Path, write_recipe: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _list_tree(tmp_path, write_recipe)
    monkeypatch.chdir(tmp_path / "r")
    assert cli("list").out == cli("list", tmp_path / "r").out


def test_list_json(cli: Cli, tmp_path: Path, write_recipe: Callable[..., Path]) -> None:
    _list_tree(tmp_path, write_recipe)
    result = cli("list", "--json", tmp_path / "r")
    items = json.loads(result.out)
    assert [item["name"] for item in items] == ["alpha", "mid", "zeta"]
    assert all(set(item) == SHOW_KEYS for item in items)
    shown = json.loads(cli("show", "--json", tmp_path / "r/mid.py").out)
    assert items[1] == shown


def test_list_warns_about_broken_recipes_and_goes_on(
    cli: Cli, tmp_path: Path, write_recipe: Callable[..., Path]
) -> None:
    write_recipe("r/ok.py", '[tool.runspec]\nname = "ok"')
    broken = write_recipe("r/broken.py", "[tool.runspec]\nname =")
    result = cli("list", "--json", tmp_path / "r")
    assert result.code == 0
    assert [item["name"] for item in json.loads(result.out)] == ["ok"]
    assert result.err == f"runspec: warning: {broken}:3: invalid TOML: Invalid value (column 9)\n"


def test_list_passes_over_plain_pep723_scripts_in_silence(
    cli: Cli, tmp_path: Path, write_recipe: Callable[..., Path]
) -> None:
    """A script block without [tool.runspec] is an ordinary uv script, not a broken recipe."""
    write_recipe("r/ok.py", '[tool.runspec]\nname = "ok"')
    write_recipe("r/plain.py", 'dependencies = ["requests"]')
    write_recipe("r/other-tool.py", "[tool.other]\nx = 1")
    result = cli("list", tmp_path / "r")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines()[1].startswith("ok ")
    assert len(result.out.splitlines()) == 2


def test_list_sorts_odd_names(cli: Cli, tmp_path: Path, write_recipe: Callable[..., Path]) -> None:
    write_recipe("r/a.py", "[tool.runspec]\nname = 5")
    write_recipe("r/b.py", '[tool.runspec]\nname = "b"')
    result = cli("list", "--json", tmp_path / "r")
    assert [item["name"] for item in json.loads(result.out)] == [5, "b"]


# --- bad input ------------------------------------------------------------------------


def _make(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.py"
    if kind == "folder":
        path.mkdir()
    elif kind == "latin1":
        path.write_bytes(b"# /// script\n# name = '\xe9'\n# ///\n")
    elif kind == "loop":  # unreadable even for root, unlike chmod 000
        path.symlink_to(path.name)
    elif kind == "no-block":
        path.write_text("x = 1\n", encoding="utf-8")
    elif kind == "bad-toml":
        path.write_text(block("[tool.runspec]\nname ="), encoding="utf-8")
    return path


BAD_INPUT = [
    ("show-missing", ["show"], "missing", "{p}: no such file"),
    ("show-folder", ["show"], "folder", "{p}: is a directory, not a script"),
    ("show-not-utf8", ["show"], "latin1", "{p}: not valid UTF-8 (byte 0xe9 at offset 23)"),
    ("show-unreadable", ["show"], "loop", "{p}: cannot read: Too many levels of symbolic links"),
    ("show-no-block", ["show", "--json"], "no-block", "{p}: no '# /// script' metadata block"),
    ("show-bad-toml", ["show"], "bad-toml", "{p}:3: invalid TOML: Invalid value (column 9)"),
    ("check-missing", ["check"], "missing", "{p}: no such file or folder"),
    ("check-unreadable", ["check"], "loop", "{p}: no such file or folder"),
    ("list-missing", ["list"], "missing", "{p}: no such file or folder"),
]


@pytest.mark.parametrize(
    ("args", "kind", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input(cli: Cli, tmp_path: Path, args: list[str], kind: str, message: str) -> None:
    path = _make(kind, tmp_path)
    result = cli(*args, path)
    assert result == Result(1, "", f"runspec: error: {message.format(p=path)}\n")


@pytest.mark.parametrize("kind", ["missing", "folder", "latin1", "loop"])
def test_bad_input_for_real(tmp_path: Path, run_real: Callable[..., Result], kind: str) -> None:
    path = _make(kind, tmp_path)
    result = run_real("show", path)
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"runspec: error: {path}: ")
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


USAGE = [
    ("no-command", []),
    ("unknown-command", ["bogus"]),
    ("show-without-script", ["show"]),
    ("show-two-scripts", ["show", "a.py", "b.py"]),
    ("check-without-path", ["check"]),
    ("unknown-option", ["list", "--bogus"]),
]


@pytest.mark.parametrize("args", [c[1] for c in USAGE], ids=[c[0] for c in USAGE])
def test_usage_errors_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("usage: runspec")


def test_usage_error_for_real(run_real: Callable[..., Result]) -> None:
    result = run_real("show")
    assert result.code == 2
    assert "runspec show: error: the following arguments are required: script" in result.err


# --- help and version -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "check", "list"])
def test_help_has_a_working_example(
    cli: Cli, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli(command, "--help")
    assert result.code == 0
    assert "example:\n" in result.out
    example = result.out.split("example:\n", 1)[1].strip().splitlines()[0]
    argv = shlex.split(example)
    assert argv[:2] == ["runspec", command]
    monkeypatch.chdir(REPO)
    assert cli(*argv[1:]).code == 0


@pytest.mark.parametrize("columns", ["50", "120", "", "junk", "-4"])
def test_help_is_as_wide_as_argparse_makes_it(
    cli: Cli, columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Help is sized like argparse's own (``shutil.get_terminal_size``), without shutil."""
    import shutil

    from runspec.cli import build_parser

    monkeypatch.setenv("COLUMNS", columns)
    width = shutil.get_terminal_size().columns - 2  # what argparse's own formatter uses
    assert build_parser()._get_formatter()._width == width
    assert max(len(line) for line in cli("show", "--help").out.splitlines()) <= width


def test_top_level_help_lists_the_commands(run_real: Callable[..., Result]) -> None:
    result = run_real("--help")
    assert result.code == 0
    assert all(command in result.out for command in ("show", "check", "list"))


def test_version(cli: Cli) -> None:
    import runspec

    assert cli("--version") == Result(0, f"runspec {runspec.__version__}\n", "")


def test_show_json_for_real_matches_in_process(cli: Cli, run_real: Callable[..., Result]) -> None:
    real = run_real("show", "--json", "examples/hello/train.py")
    assert (real.code, real.err) == (0, "")
    assert json.loads(real.out) == json.loads(cli("show", "--json", HELLO).out)


def test_check_for_real(run_real: Callable[..., Result]) -> None:
    result = run_real("check", "tests/data/conformance", "--strict")
    assert result.code == 1
    assert result.out.endswith("checked 85 files: 0 error(s), 18 warning(s)\n")
    assert result.err == ""
