"""The core is vendorable: stdlib only, relative imports, no import-time side effects.

Every case runs in a fresh interpreter, so nothing this test process imported
can hide a missing or forbidden import.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import runspec
from runspec.discovery import scripts as find_scripts
from tests.support import REPO

HELLO = REPO / "examples" / "hello" / "train.py"
CORPUS = REPO / "tests" / "data" / "conformance"
PACKAGE = REPO / "runspec"


def python(*args: str, pythonpath: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the interpreter with only ``pythonpath`` added to the import path."""
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, "PYTHONPATH": str(pythonpath), **env},
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def copy_core(target: Path) -> Path:
    """Copy runspec/ (sources only) to ``target``."""
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_runs_from_a_bare_copy(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    copy_core(bare / "runspec")
    where = python("-c", "import runspec; print(runspec.__file__)", pythonpath=bare, cwd=tmp_path)
    assert where.stdout.strip() == str(bare / "runspec" / "__init__.py")
    done = python("-m", "runspec", "show", "--json", str(HELLO), pythonpath=bare, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["name"] == "examples/hello"


@pytest.fixture
def somerepo(tmp_path: Path) -> Path:
    """tmp_path/somerepo/_vendor/runspec/, a package inside a package."""
    copy_core(tmp_path / "somerepo" / "_vendor" / "runspec")
    (tmp_path / "somerepo" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "somerepo" / "_vendor" / "__init__.py").write_text("", encoding="utf-8")
    return tmp_path


def test_works_vendored_under_another_package(somerepo: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from somerepo._vendor import runspec
        print(runspec.parse(sys.argv[1]).name)
        print(runspec.__file__)
        print(sorted(m for m in sys.modules if m.partition(".")[0] == "runspec"))
        """
    )
    done = python("-c", code, str(HELLO), pythonpath=somerepo, cwd=somerepo)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "examples/hello",
        str(somerepo / "somerepo" / "_vendor" / "runspec" / "__init__.py"),
        "[]",  # no top-level runspec was imported along the way
    ]


@pytest.mark.parametrize(
    ("args", "code", "start"),
    [
        (["show", str(HELLO)], 0, "name       examples/hello\n"),
        (["check", str(REPO / "examples")], 0, "checked 7 files: 0 error(s), 0 warning(s)\n"),
        (["list", str(REPO / "examples")], 0, "NAME "),
        (["run", "--dry-run", str(HELLO)], 0, "# job config of examples-hello: "),
    ],
    ids=["show", "check", "list", "run-dry-run"],
)
def test_vendored_module_runs(somerepo: Path, args: list[str], code: int, start: str) -> None:
    done = python("-m", "somerepo._vendor.runspec", *args, pythonpath=somerepo, cwd=somerepo)
    assert (done.returncode, done.stderr) == (code, "")
    assert done.stdout.startswith(start)


EVERY_MODULE = """
import importlib, pkgutil, sys
from somerepo._vendor import runspec
prefix = runspec.__name__ + "."
names = [m.name for m in pkgutil.walk_packages(runspec.__path__, prefix)]
for name in names:
    if not name.endswith(".__main__"):  # that one runs the command line
        importlib.import_module(name)
print(sorted(name.removeprefix(prefix) for name in names))
print(sorted(m for m in sys.modules if m.partition(".")[0] == "runspec"))
"""


def test_every_module_imports_vendored(somerepo: Path) -> None:
    done = python("-c", EVERY_MODULE, pythonpath=somerepo, cwd=somerepo)
    assert (done.returncode, done.stderr) == (0, "")
    found, top_level = done.stdout.splitlines()
    expected = sorted(
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "__init__.py"
    )
    assert found == repr(expected)
    assert top_level == "[]"  # no top-level runspec was imported along the way


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import statement in a file."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE))
)
def test_core_imports_are_relative_or_stdlib(path: Path) -> None:
    absolute = {module for level, module in _imports(path) if level == 0}
    assert not {m for m in absolute if m.partition(".")[0] == "runspec"}, "use relative imports"
    allowed = set(sys.stdlib_module_names) | ({"tomli"} if path.name == "_toml.py" else set())
    assert {m.partition(".")[0] for m in absolute} <= allowed


STDLIB_GUARD = """
import sys

class StdlibOnly:
    '''Refuse to import anything outside the standard library (and runspec itself).'''

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in sys.stdlib_module_names and top != "runspec":
            raise ImportError(f"outside the standard library: {name}")
        return None

sys.meta_path.insert(0, StdlibOnly())
"""


def test_runs_with_only_the_standard_library(tmp_path: Path) -> None:
    code = STDLIB_GUARD + textwrap.dedent(
        f"""
        try:
            import hypothesis
        except ImportError as exc:
            print("guard works:", exc)
        import runspec.cli
        codes = [
            runspec.cli.main(["show", "--json", {str(HELLO)!r}]),
            runspec.cli.main(["show", {str(HELLO)!r}]),
            runspec.cli.main(["check", {str(CORPUS)!r}]),
            runspec.cli.main(["check", "--json", {str(REPO / "examples")!r}]),
            runspec.cli.main(["list", "--json", {str(CORPUS)!r}]),
            runspec.cli.main(["show", {str(tmp_path / "missing.py")!r}]),
        ]
        print(codes, file=sys.stderr)
        """
    )
    done = python("-c", code, pythonpath=REPO, cwd=tmp_path)
    assert done.stdout.startswith("guard works: outside the standard library: hypothesis\n")
    assert '"name": "examples/hello"' in done.stdout
    assert "checked 85 files: 0 error(s), 18 warning(s)" in done.stdout
    assert done.stderr.splitlines()[-1] == "[0, 0, 0, 0, 0, 1]"
    assert "Traceback" not in done.stderr


NO_TOMLLIB = """
import sys

class NoTomllib:
    '''Make tomllib unimportable, as on Python 3.10.'''

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tomllib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTomllib())
"""

DUMP_CORPUS = """
import json, sys
import runspec
from runspec import _toml
from runspec.discovery import scripts as find_scripts
parsed = {
    str(path): [runspec.parse(path).to_dict(), [str(p) for p in runspec.check(path)]]
    for path in find_scripts([sys.argv[1]])
}
print(json.dumps({"parser": _toml._parse.__module__, "parsed": parsed}))
"""


def test_tomli_fallback_reads_the_corpus_the_same(tmp_path: Path) -> None:
    import tomli  # noqa: F401  (a test dependency; the 3.10 dependency of runspec)

    fallback = python("-c", NO_TOMLLIB + DUMP_CORPUS, str(CORPUS), pythonpath=REPO, cwd=tmp_path)
    assert fallback.returncode == 0, fallback.stderr
    result = json.loads(fallback.stdout)
    assert result["parser"].partition(".")[0] == "tomli"
    expected = {
        str(path): [runspec.parse(path).to_dict(), [str(p) for p in runspec.check(path)]]
        for path in find_scripts([CORPUS])
    }
    assert len(expected) == 85
    assert result["parsed"] == json.loads(json.dumps(expected))


def test_tomli_fallback_reports_toml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("# /// script\n# [tool.runspec]\n# name =\n# ///\n", encoding="utf-8")
    code = NO_TOMLLIB + "import runspec.cli; sys.exit(runspec.cli.main(['show', sys.argv[1]]))"
    done = python("-c", code, str(bad), pythonpath=REPO, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"runspec: error: {bad}:3: invalid TOML: Invalid value (column 9)\n"


NO_TOML_PARSER = NO_TOMLLIB.replace('== "tomllib"', 'in ("tomllib", "tomli")')


@pytest.mark.parametrize(
    ("args", "code", "stdout", "stderr"),
    [
        (["--version"], 0, "runspec 0.1.0\n", ""),
        (
            ["show", "examples/hello/train.py"], 1, "",
            "runspec: error: reading TOML on Python 3.10 needs the tomli package: pip install tomli\n",
        ),
    ],
    ids=["version-works", "reading-toml-names-tomli"],
)  # fmt: skip
def test_without_any_toml_parser_the_error_names_tomli(
    args: list[str], code: int, stdout: str, stderr: str
) -> None:
    program = NO_TOML_PARSER + f"import runspec.cli; sys.exit(runspec.cli.main({args!r}))"
    done = python("-c", program, pythonpath=REPO, cwd=REPO)
    assert (done.returncode, done.stdout, done.stderr) == (code, stdout, stderr)


IMPORT_ONLY = """
import json, sys
before = set(sys.modules)
import runspec
added = sorted(set(sys.modules) - before)
with open(sys.argv[1], "w") as handle:
    json.dump(added, handle)
"""


def _files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    package, work, home = tmp_path / "pkg", tmp_path / "work", tmp_path / "home"
    copy_core(package / "runspec")
    work.mkdir()
    home.mkdir()
    before = _files(package) | _files(work) | _files(home)
    out = tmp_path / "added.json"
    done = python("-B", "-c", IMPORT_ONLY, str(out), pythonpath=package, cwd=work, HOME=str(home))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert _files(package) | _files(work) | _files(home) == before
    added = json.loads(out.read_text(encoding="utf-8"))
    assert "runspec" in added
    foreign = [m for m in added if m.partition(".")[0] not in {*sys.stdlib_module_names, "runspec"}]
    assert foreign == []
