"""The examples in docs/*.md are true.

* Every fenced ```toml block must parse.
* Every fenced ```console block is run: each line starting with ``$ runspec `` is a
  command, run from the repository root as ``python -m runspec ...`` (no shell: the
  arguments are split with shlex), and the lines after it, up to the next ``$`` line,
  are its expected stdout and stderr together. ``$ python examples/...`` lines run an
  example's own command line (a recipe CLI) the same way. In the expected text,
  ``/path/to/runspec`` stands for the repository root, and a line ``...`` matches any
  number of lines. Every ``$`` line of a console block must be one of those; show other
  shell commands in ```shell blocks, which are not run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.support import REPO, Result, run_module

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DOCS = sorted((REPO / "docs").glob("*.md"))
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
ROOT_PLACEHOLDER = "/path/to/runspec"


def fenced(lang: str) -> list[tuple[str, str]]:
    """(``doc.md:line`` id, body) of every fenced block of ``lang`` in docs/*.md."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group("lang") == lang:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{doc.name}:{line}", match.group("body")))
    return found


def commands(body: str) -> list[tuple[str, list[str]]]:
    """Split a console block into (command line, expected output lines) pairs."""
    pairs: list[tuple[str, list[str]]] = []
    for line in body.rstrip("\n").split("\n"):
        if line.startswith("$"):
            pairs.append((line, []))
        elif pairs:
            pairs[-1][1].append(line)
    return pairs


def matches(expected: list[str], actual: list[str]) -> bool:
    """Compare output lines; one ``...`` line in ``expected`` matches any run of lines."""
    if "..." not in expected:
        return expected == actual
    cut = expected.index("...")
    head, tail = expected[:cut], expected[cut + 1 :]
    return (
        len(actual) >= len(head) + len(tail)
        and actual[: len(head)] == head
        and (not tail or actual[-len(tail) :] == tail)
    )


TOML_BLOCKS = fenced("toml")
CONSOLE_BLOCKS = fenced("console")


@pytest.mark.parametrize("body", [b for _, b in TOML_BLOCKS], ids=[i for i, _ in TOML_BLOCKS])
def test_toml_blocks_parse(body: str) -> None:
    tomllib.loads(body)


@pytest.mark.parametrize("body", [b for _, b in CONSOLE_BLOCKS], ids=[i for i, _ in CONSOLE_BLOCKS])
def test_console_blocks_run(body: str) -> None:
    pairs = commands(body)
    assert pairs, "a console block needs at least one '$ runspec ...' line"
    for command, expected in pairs:
        result = _run(command)
        output = (result.out + result.err).replace(str(REPO), ROOT_PLACEHOLDER)
        assert "Traceback" not in output
        actual = output.rstrip("\n").split("\n") if output else []
        assert matches(expected, actual), f"{command}\n--- got:\n{output}"


def _run(command: str) -> Result:
    """Run a ``$`` line: ``runspec ...`` as ``python -m runspec``, ``python examples/...``."""
    words = shlex.split(command)[1:]
    if words[0] == "runspec":
        return run_module(*words[1:])
    assert words[0] == "python" and words[1].startswith("examples/"), (
        f"only runspec commands and the examples' own CLIs run here: {command}"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("RUNSPEC_ENV_FILE", None)
    done = subprocess.run(
        [sys.executable, *words[1:]], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def test_the_core_pages_have_checked_examples() -> None:
    pages = {name.partition(":")[0] for name, _ in CONSOLE_BLOCKS}
    assert {"spec.md", "cli.md"} <= pages
    assert any(name.startswith("spec.md") for name, _ in TOML_BLOCKS)


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (["a", "b"], ["a", "b"], True),
        (["a", "b"], ["a", "c"], False),
        (["a", "...", "z"], ["a", "b", "c", "z"], True),
        (["a", "...", "z"], ["a", "z"], True),
        (["a", "...", "z"], ["a", "b"], False),
        (["a", "..."], ["a", "b", "c"], True),
        (["a", "...", "a"], ["a"], False),
    ],
    ids=["equal", "different", "gap", "empty-gap", "wrong-tail", "open-end", "overlap"],
)
def test_matching(expected: list[str], actual: list[str], ok: bool) -> None:
    assert matches(expected, actual) is ok
