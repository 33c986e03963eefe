"""Discovery (runspec.discovery): the walk, its index under .runspec/, special and huge files.

The index is proven both ways: a change to a file (edit, add, rename, delete, a
clock stamping it ahead) is seen on the next call, and an unchanged file really is
answered from the index (a tampered entry shows through), so the tests cannot pass
with an index that is never used.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runspec import discovery
from tests.support import Result, block, cli_env

Cli = Callable[..., Result]


def recipe(name: str, nodes: int = 1, extra: str = "") -> str:
    toml = f'[tool.runspec]\nname = "{name}"\n[tool.runspec.resources]\nnodes = {nodes}'
    return block(toml) + "print('hi')\n" + extra


def names(root: Path) -> list[tuple[str, str]]:
    return [(entry.name, Path(entry.path).name) for entry in discovery.recipes(root)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "nano3").mkdir(parents=True)
    (root / "nano3" / "pretrain.py").write_text(recipe("nano3/pretrain"), encoding="utf-8")
    (root / "nano3" / "sft.py").write_text(recipe("nano3/sft"), encoding="utf-8")
    (root / "tools.py").write_text("import os\n", encoding="utf-8")
    return root


INDEX = Path(discovery.STATE_DIR) / discovery.INDEX_NAME


def _tamper(root: Path, name: str, new_name: str, age: float) -> None:
    """Rename a recipe inside its stored index entry, and date the index ``age`` s back."""
    index = root / INDEX
    data = marshal.loads(index.read_bytes())
    for _, result in data["entries"].values():
        if result and result[0] == "recipe" and result[1]["name"] == name:
            result[1]["name"] = new_name
    index.write_bytes(marshal.dumps(data))
    when = time.time() - age
    os.utime(index, (when, when))


# --- the API ----------------------------------------------------------------------------


def test_recipes_by_name(project: Path) -> None:
    entries = discovery.recipes(project)
    assert [entry.name for entry in entries] == ["nano3/pretrain", "nano3/sft"]
    assert entries[0].path == str(project / "nano3" / "pretrain.py")
    assert entries[0].description["resources"] == {"nodes": 1, "gpus_per_node": 8}
    found = discovery.find(project, "nano3/sft")
    assert found is not None and found.path == str(project / "nano3" / "sft.py")
    assert discovery.find(project, "nano3/nope") is None


def test_the_index_folder_is_ignored_by_git(project: Path) -> None:
    discovery.recipes(project)
    assert (project / ".runspec" / ".gitignore").read_text(encoding="utf-8") == "*\n"
    assert (project / INDEX).is_file()


def test_an_unchanged_recipe_is_answered_from_the_index(project: Path) -> None:
    discovery.recipes(project)
    _tamper(project, "nano3/sft", "from-the-index", age=0)
    past = time.time() - 60  # the files are older than the index: trusted
    for path in (project / "nano3").iterdir():
        os.utime(path, (past, past))
    discovery.recipes(project)  # the new times are stored
    _tamper(project, "nano3/sft", "from-the-index", age=0)
    assert ("from-the-index", "sft.py") in names(project)


# --- invalidation -----------------------------------------------------------------------


def _edit_keeping_size_and_mtime(path: Path, old: str, new: str) -> None:
    info = path.stat()
    text = path.read_text(encoding="utf-8")
    assert len(old) == len(new)
    path.write_text(text.replace(old, new), encoding="utf-8")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size


def _warm(project: Path) -> None:
    past = time.time() - 60
    for path in project.rglob("*.py"):
        os.utime(path, (past, past))
    discovery.recipes(project)


def test_an_edit_is_seen_even_with_size_and_mtime_kept(project: Path) -> None:
    _warm(project)
    _edit_keeping_size_and_mtime(project / "nano3" / "sft.py", "nano3/sft", "nano3/SFT")
    assert ("nano3/SFT", "sft.py") in names(project)


def test_an_added_recipe_is_seen(project: Path) -> None:
    _warm(project)
    (project / "nano3" / "eval.py").write_text(recipe("nano3/eval"), encoding="utf-8")
    assert names(project) == [
        ("nano3/eval", "eval.py"), ("nano3/pretrain", "pretrain.py"), ("nano3/sft", "sft.py")
    ]  # fmt: skip


def test_a_renamed_recipe_is_seen_under_its_new_path(project: Path) -> None:
    _warm(project)
    (project / "nano3" / "sft.py").rename(project / "nano3" / "finetune.py")
    assert names(project) == [("nano3/pretrain", "pretrain.py"), ("nano3/sft", "finetune.py")]
    stored = marshal.loads((project / INDEX).read_bytes())["entries"]
    assert str(project / "nano3" / "sft.py") not in stored


def test_a_deleted_recipe_is_gone(project: Path) -> None:
    _warm(project)
    (project / "nano3" / "sft.py").unlink()
    assert names(project) == [("nano3/pretrain", "pretrain.py")]


def test_a_file_replaced_by_one_with_the_same_times_and_size_is_seen(project: Path) -> None:
    """``mv`` of a prepared file (or ``cp -p``) can keep size and mtime; the inode differs."""
    _warm(project)
    target = project / "nano3" / "sft.py"
    other = project / "other.txt"
    other.write_text(recipe("nano3/SFT"), encoding="utf-8")
    info = target.stat()
    os.utime(other, ns=(info.st_atime_ns, info.st_mtime_ns))
    other.rename(target)
    assert ("nano3/SFT", "sft.py") in names(project)


def test_a_recipe_stamped_ahead_of_the_index_is_read_again(project: Path) -> None:
    """A clock ahead of ours (a file server's) stamps files after the index: never trusted."""
    ahead = time.time() + 3600
    for path in project.rglob("*.py"):
        os.utime(path, (ahead, ahead))
    discovery.recipes(project)
    _tamper(project, "nano3/sft", "stale", age=0)
    assert ("nano3/sft", "sft.py") in names(project)


def test_an_index_written_in_the_same_tick_as_an_edit_is_not_trusted(project: Path) -> None:
    """Entries as new as the index itself may hide an edit made in the same clock tick."""
    discovery.recipes(project)
    _tamper(project, "nano3/sft", "stale", age=3600)  # the index older than the files
    assert ("nano3/sft", "sft.py") in names(project)


@pytest.mark.parametrize(
    "damage",
    [b"", b"not marshal data", marshal.dumps({"format": (0, (2, 7)), "entries": {}})],
    ids=["empty", "garbage", "other-format"],
)
def test_a_damaged_index_is_rebuilt(project: Path, damage: bytes) -> None:
    discovery.recipes(project)
    (project / INDEX).write_bytes(damage)
    assert names(project) == [("nano3/pretrain", "pretrain.py"), ("nano3/sft", "sft.py")]
    assert marshal.loads((project / INDEX).read_bytes())["entries"]


def test_where_the_index_cannot_be_written_listing_works_without_it(
    project: Path, cli: Cli
) -> None:
    (project / ".runspec").write_text("a file in the way\n", encoding="utf-8")
    assert names(project) == [("nano3/pretrain", "pretrain.py"), ("nano3/sft", "sft.py")]
    result = cli("list", project)
    assert (result.code, result.err) == (0, "")
    assert (project / ".runspec").read_text(encoding="utf-8") == "a file in the way\n"
    assert not list(project.glob(".runspec*.tmp")) and not list(project.glob("*.tmp"))


def _recipes_as_a_user_who_cannot_write(folder: Path) -> list[str]:
    """List ``folder`` in a child that cannot write to it (root drops to ``nobody``)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return [entry.name for entry in discovery.recipes(folder)]
        finally:
            folder.chmod(0o755)
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # everything it needs is imported already
        try:
            os.close(reading)
            os.setgid(65534)
            os.setuid(65534)
            found = [entry.name for entry in discovery.recipes(folder)]
            os.write(writing, json.dumps(found).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as stream:
        answer = stream.read()
    os.waitpid(child, 0)
    return json.loads(answer)


def test_a_folder_the_user_cannot_write_is_listed_without_an_index() -> None:
    base = Path(tempfile.mkdtemp(prefix="runspec-ro-"))  # in /tmp: others can reach it
    try:
        base.chmod(0o755)
        (base / "r.py").write_text(recipe("ro"), encoding="utf-8")
        assert _recipes_as_a_user_who_cannot_write(base) == ["ro"]
        assert not (base / ".runspec").exists()
    finally:
        shutil.rmtree(base)


# --- what is and is not a recipe --------------------------------------------------------


def test_broken_recipes_are_problems_plain_scripts_are_not(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text(block('dependencies = ["rich"]'), encoding="utf-8")
    (tmp_path / "bad.py").write_text(block("[tool.runspec]\nname = 5 6"), encoding="utf-8")
    (tmp_path / "ok.py").write_text(recipe("ok"), encoding="utf-8")
    for _ in range(2):  # the second time from the index
        found = discovery.survey([str(tmp_path)])
        assert [entry.name for entry in found.recipes] == ["ok"]
        assert found.problems == (
            f"{tmp_path}/bad.py:3: invalid TOML: Expected newline or end of document after a"
            " statement (column 12)",
        )


def test_walks_1200_nested_folders(tmp_path: Path, cli: Cli) -> None:
    folders = [str(tmp_path)]
    for _ in range(1200):  # one level at a time: pathlib's and os's makedirs recurse
        folders.append(os.path.join(folders[-1], "d"))
        os.mkdir(folders[-1])
    Path(folders[-1], "deep.py").write_text(recipe("deep"), encoding="utf-8")
    try:
        result = cli("list", "--json", tmp_path)
        assert (result.code, result.err) == (0, "")
        assert [item["name"] for item in json.loads(result.out)] == ["deep"]
    finally:  # deepest first: shutil.rmtree would recurse too deep when pytest cleans up
        os.unlink(os.path.join(folders[-1], "deep.py"))
        for folder in reversed(folders[1:]):
            os.rmdir(folder)


# --- special files ----------------------------------------------------------------------


def _special_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "fifo.py"
    os.mkfifo(fifo)
    zero = folder / "zero.py"
    zero.symlink_to("/dev/zero")
    null = folder / "null.py"
    null.symlink_to("/dev/null")
    return {"fifo": fifo, "zero": zero, "null": null}


def test_list_and_check_pass_over_special_files(tmp_path: Path) -> None:
    """Run for real with a timeout: reading any of them would hang or never end."""
    _special_files(tmp_path / "tree")
    (tmp_path / "tree" / "ok.py").write_text(recipe("ok"), encoding="utf-8")
    outputs = {}
    for command in ("list", "check"):
        done = subprocess.run(
            [sys.executable, "-m", "runspec", command, "--json", str(tmp_path / "tree")],
            env=cli_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (0, ""), command
        outputs[command] = json.loads(done.stdout)
    assert [item["name"] for item in outputs["list"]] == ["ok"]
    assert outputs["check"]["files"] == 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("fifo", "is a named pipe (FIFO), not a script"),
        ("zero", "is a character device, not a script"),
        ("null", "is a character device, not a script"),
    ],
)
def test_show_refuses_special_files(tmp_path: Path, kind: str, message: str) -> None:
    path = _special_files(tmp_path)[kind]
    done = subprocess.run(
        [sys.executable, "-m", "runspec", "show", str(path)],
        env=cli_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"runspec: error: {path}: {message}\n"


# --- memory: scanning streams -----------------------------------------------------------

PEAK = textwrap.dedent(
    """
    import resource, sys
    from runspec.cli import main
    sys.stdout = open("/dev/null", "w")
    main(["show", "--json", sys.argv[2]])  # warm: imports, parsers, first allocations
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code = main([sys.argv[1], *sys.argv[3:]])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(code, after - before, file=sys.stderr)
    """
)


def _write_big(path: Path, head: str, line: bytes, size: int) -> None:
    chunk = line * ((1 << 20) // len(line))
    with path.open("wb") as stream:
        stream.write(head.encode())
        while stream.tell() < size:
            stream.write(chunk)


def _peak_growth_kib(command: str, path: Path, small: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK, command, str(small), str(path)],
        env=cli_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    code, growth = done.stderr.split()[-2:]
    return int(code), int(growth)


@pytest.mark.parametrize(
    ("shape", "line"),
    [("lines", b"x = compute(x, 1)  # a line of code\n"), ("one-line", b"0123456789abcdef")],
)
def test_a_300_mb_script_is_read_in_a_few_mb(tmp_path: Path, shape: str, line: bytes) -> None:
    """Peak RSS of ``show``, ``check`` and ``list`` grows by less than 8 MiB for 300 MB."""
    small = tmp_path / "small.py"
    small.write_text(recipe("small"), encoding="utf-8")
    big = tmp_path / "tree" / "big.py"
    big.parent.mkdir()
    _write_big(big, recipe("big") + "x = '", line, 300_000_000)
    for command in (("show", big), ("check", big), ("list", big.parent)):
        code, growth = _peak_growth_kib(*command, small=small)
        assert code == 0, command
        assert growth < 8 << 10, (command, growth)
    big.unlink()
