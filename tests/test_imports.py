"""The start-up budget: which modules ``runspec show --json`` may import (no timing).

``python -S -X importtime -m runspec show --json`` runs in a fresh interpreter without
site-packages (so that the machine's ``.pth`` files do not hide imports); every module
it imports beyond a bare interpreter must be listed below. A new one fails the test by
name: move its import into the function that needs it, or list it here with the reason.
See docs/performance.md and benchmarks/imports.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import REPO

MINUS_M = {
    "runpy", "importlib", "importlib._abc", "importlib.machinery", "importlib.util", "os",
    "posixpath", "genericpath", "stat", "_stat", "_collections_abc", "warnings", "types",
    "contextlib", "collections", "_collections", "functools", "_functools", "itertools",
    "keyword", "operator", "_operator", "reprlib",
}  # fmt: skip
"""What ``python -m`` itself imports to run any module."""

STDLIB = {
    # re: the block scan, TOML key lines, environment variable names (3.10: sre_*, _locale)
    "re", "enum", "copyreg", "_sre", "re._casefix", "re._compiler", "re._constants",
    "re._parser", "sre_compile", "sre_constants", "sre_parse", "_locale",
    # TOML: tomllib (tomli on 3.10) and what it imports (typing, datetime, string)
    "tomllib", "tomllib._parser", "tomllib._re", "tomllib._types", "tomli", "tomli._parser",
    "tomli._re", "tomli._types", "typing", "_typing", "collections.abc", "__future__",
    "datetime", "_datetime", "math", "string", "_string",
    # the command line and its output
    "argparse", "gettext", "json", "json.decoder", "json.encoder", "json.scanner", "_json",
}  # fmt: skip
"""The standard library ``show --json`` needs (names of 3.10 to 3.13)."""

RUNSPEC = {
    "runspec", "runspec._start", "runspec.cli", "runspec.cli.main", "runspec.errors",
    "runspec.script",
    "runspec._toml", "runspec._limits", "runspec.declaration", "runspec._environ",
    "runspec._masking",
}  # fmt: skip
"""runspec's own modules on the way: no model (dataclasses), no pathlib, no job."""


def _imported(*args: str) -> set[str]:
    paths = [str(REPO)]
    if sys.version_info < (3, 11):  # tomli lives in site-packages, which -S leaves out
        import tomli

        paths.append(os.path.dirname(os.path.dirname(tomli.__file__)))
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.rpartition("|")[2].strip() for line in lines[1:]}


def test_show_json_imports_only_the_listed_modules() -> None:
    bare = _imported("-c", "pass")
    shown = _imported("-m", "runspec", "show", "--json", "examples/hello/train.py")
    unexpected = sorted(shown - bare - MINUS_M - STDLIB - RUNSPEC)
    assert not unexpected, f"show --json now imports {', '.join(unexpected)}"
    assert shown >= RUNSPEC  # the list is of modules really on the way


def test_the_model_is_not_on_the_way() -> None:
    shown = _imported("-m", "runspec", "show", "--json", "examples/hello/train.py")
    assert not shown & {"dataclasses", "pathlib", "inspect", "shutil", "locale", "runspec.spec"}
