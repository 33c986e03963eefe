"""The ``[tool.runspec]`` model (runspec.spec): lenient parse, strict check, the corpus."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runspec
from runspec import Runspec, RunspecConfig, RunspecResources, RunspecRun
from runspec.report import render_summary
from runspec.spec import FORMATS, LAUNCH_ALIASES, LAUNCHES
from tests.support import REPO, Result, block

CORPUS = REPO / "tests" / "data" / "conformance"
EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))

# --- check: every rule, exact messages ---------------------------------------------------

NO_TABLE = "no [tool.runspec] table in the '# /// script' block"
CHECKS = [
    ("valid", block('[tool.runspec]\nname = "a"\n[tool.runspec.run]\nlaunch = "ray"'), []),
    ("no-block", "x = 1\n", ["R: error: no '# /// script' metadata block"]),
    (
        "several-blocks",
        block("[tool.runspec]") + "x = 1\n" + block("[tool.runspec]"),
        ["R:5: error: several '# /// script' blocks (opened at lines 1 and 5)"],
    ),
    (
        "unclosed-block",
        "# /// script\n# [tool.runspec]\nx = 1\n",
        [
            "R:1: error: no '# /// script' metadata: no closing '# ///' line before line 3"
            " ('x = 1') (block opened at line 1)"
        ],
    ),
    (
        "invalid-toml",
        block('[tool.runspec]\nname = "a'),
        ["R:3: error: invalid TOML: Illegal character '\\n' (column 12)"],
    ),
    ("no-tool-table", block("dependencies = []"), [f"R:1: error: {NO_TABLE}"]),
    ("no-runspec-table", block("[tool.other]\nx = 1"), [f"R:1: error: {NO_TABLE}"]),
    ("tool-not-a-table", block("tool = 5"), [f"R:2: error: {NO_TABLE}"]),
    (
        "unsupported-schema",
        block('[tool.runspec]\nschema = "2"\nnmae = 5'),
        ["R:3: error: tool.runspec.schema: unsupported schema '2' (supported: '1')"],
    ),
    (
        "schema-not-a-string",
        block("[tool.runspec]\nschema = 1"),
        ["R:3: error: tool.runspec.schema: unsupported schema 1 (supported: '1')"],
    ),
    (
        "unknown-keys-did-you-mean",
        block(
            '[tool.runspec]\nnmae = "x"\n[tool.runspec.run]\nlunch = "direct"\n'
            '[tool.runspec.config]\nformt = "json"'
        ),
        [
            "R:3: error: tool.runspec.nmae: unknown key (did you mean 'name'?)",
            "R:5: error: tool.runspec.run.lunch: unknown key (did you mean 'launch'?)",
            "R:7: error: tool.runspec.config.formt: unknown key (did you mean 'format'?)",
        ],
    ),
    (
        "unknown-key-lists-known",
        block("[tool.runspec.resources]\ngpus = 8"),
        ["R:3: error: tool.runspec.resources.gpus: unknown key (known: nodes, gpus_per_node)"],
    ),
    (
        "nodes-two",
        block('[tool.runspec.resources]\nnodes = "two"'),
        ["R:3: error: tool.runspec.resources.nodes: must be an integer (got 'two')"],
    ),
    (
        "gpus-per-node-gpu",
        block('[tool.runspec.resources]\ngpus_per_node = "gpu"'),
        [
            "R:3: warning: tool.runspec.resources.gpus_per_node: 'gpu' is not a count;"
            " read as unset (the profile or config decides)"
        ],
    ),
    (
        "nodes-bool",
        block("[tool.runspec.resources]\nnodes = true"),
        ["R:3: error: tool.runspec.resources.nodes: must be an integer (got True)"],
    ),
    (
        "nodes-float",
        block("[tool.runspec.resources]\nnodes = 2.0"),
        ["R:3: error: tool.runspec.resources.nodes: must be an integer (got 2.0)"],
    ),
    (
        "nodes-zero",
        block("[tool.runspec.resources]\nnodes = 0"),
        ["R:3: error: tool.runspec.resources.nodes: must be at least 1 (got 0)"],
    ),
    (
        "negative-counts",
        block("[tool.runspec.resources]\nnodes = -3\ngpus_per_node = -1"),
        [
            "R:3: error: tool.runspec.resources.nodes: must be at least 1 (got -3)",
            "R:4: error: tool.runspec.resources.gpus_per_node: must not be negative (got -1)",
        ],
    ),
    ("zero-gpus-is-fine", block("[tool.runspec.resources]\ngpus_per_node = 0"), []),
    (
        "string-fields",
        block('[tool.runspec]\nname = 5\nimage = ["x"]\nsetup = 1\ndocs = false'),
        [
            "R:3: error: tool.runspec.name: must be a string (got 5)",
            "R:4: error: tool.runspec.image: must be a string (got ['x'])",
            "R:5: error: tool.runspec.setup: must be a string (got 1)",
            "R:6: error: tool.runspec.docs: must be a string (got False)",
        ],
    ),
    (
        "table-not-a-table",
        block('[tool.runspec]\nrun = "torchrun"'),
        ["R:3: error: tool.runspec.run: must be a table (got 'torchrun')"],
    ),
    (
        "env-values-and-names",
        block('[tool.runspec.env]\nA = 1\n"1X" = "a"\n"A-B" = "b"\nOK_2 = "c"\nB = ["x"]'),
        [
            "R:3: error: tool.runspec.env.A: must be a string (got 1)",
            "R:4: error: tool.runspec.env.1X: not a valid environment variable name",
            "R:5: error: tool.runspec.env.A-B: not a valid environment variable name",
            "R:7: error: tool.runspec.env.B: must be a string (got ['x'])",
        ],
    ),
    (
        "unknown-launch",
        block('[tool.runspec.run]\nlaunch = "mpirun"'),
        [
            "R:3: error: tool.runspec.run.launch: unknown launch 'mpirun'"
            " (expected one of: direct, ray, torchrun)"
        ],
    ),
    (
        "unknown-format",
        block('[tool.runspec.config]\nformat = "ini"'),
        [
            "R:3: error: tool.runspec.config.format: unknown format 'ini'"
            " (expected one of: json, omegaconf, yaml)"
        ],
    ),
    (
        "launch-python-warning",
        block('[tool.runspec.run]\nlaunch = "python"'),
        [
            "R:3: warning: tool.runspec.run.launch: 'python' is read as 'direct';"
            " write launch = 'direct'"
        ],
    ),
    (
        "inline-table-points-at-its-line",
        block('[tool.runspec]\nname = "a"\nresources = { nodes = "two" }'),
        ["R:4: error: tool.runspec.resources.nodes: must be an integer (got 'two')"],
    ),
    (
        "dotted-keys",
        block('[tool]\nrunspec.name = 3\nrunspec.run.launch = "x"'),
        [
            "R:3: error: tool.runspec.name: must be a string (got 3)",
            "R:4: error: tool.runspec.run.launch: unknown launch 'x'"
            " (expected one of: direct, ray, torchrun)",
        ],
    ),
    (
        "all-problems-at-once-in-line-order",
        "#!/usr/bin/env python\n"
        + block(
            '[tool.runspec.run]\nlaunch = "python"\n[tool.runspec]\nnmae = "x"\n'
            '[tool.runspec.resources]\nnodes = 0\ngpus_per_node = "gpu"\n'
            "[tool.runspec.env]\nX = 2"
        ),
        [
            "R:4: warning: tool.runspec.run.launch: 'python' is read as 'direct';"
            " write launch = 'direct'",
            "R:6: error: tool.runspec.nmae: unknown key (did you mean 'name'?)",
            "R:8: error: tool.runspec.resources.nodes: must be at least 1 (got 0)",
            "R:9: warning: tool.runspec.resources.gpus_per_node: 'gpu' is not a count;"
            " read as unset (the profile or config decides)",
            "R:11: error: tool.runspec.env.X: must be a string (got 2)",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CHECKS], ids=[c[0] for c in CHECKS])
def test_check(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "r.py"
    path.write_text(text, encoding="utf-8")
    lines = [str(problem) for problem in runspec.check(path)]
    assert lines == [line.replace("R", str(path), 1) for line in expected]


def test_problem_fields(tmp_path: Path) -> None:
    path = tmp_path / "r.py"
    path.write_text(block('[tool.runspec.resources]\nnodes = "two"'), encoding="utf-8")
    assert runspec.check(path) == [
        runspec.Problem(
            "error", "must be an integer (got 'two')", path, 3, "tool.runspec.resources.nodes"
        )
    ]


# --- parse: lenient, values as written --------------------------------------------------


def test_parse_keeps_values_as_written(write_recipe: Callable[..., Path]) -> None:
    path = write_recipe(
        "r.py",
        '[tool.runspec]\nsetup = """\n  two lines\n  here\n"""\n'
        '[tool.runspec.run]\nlaunch = "python"\n'
        '[tool.runspec.resources]\ngpus_per_node = "gpu"\nnodes = 0\n'
        "[tool.runspec.env]\nN = 3",
    )
    recipe = runspec.parse(path)
    assert recipe.run.launch == "python"
    assert recipe.run.launcher == "direct"
    assert recipe.resources == RunspecResources(nodes=0, gpus_per_node="gpu")  # type: ignore[arg-type]
    assert dict(recipe.env) == {"N": 3}
    assert recipe.setup == "two lines\n  here"


DEFAULTS = {
    "schema": "1",
    "docs": "",
    "name": "",
    "image": None,
    "setup": "",
    "run": {"launch": "torchrun", "cmd": None, "workdir": None},
    "config": {"dir": "./config", "default": "default", "format": "omegaconf"},
    "resources": {"nodes": 1, "gpus_per_node": 8},
    "env": {},
}


def test_defaults_are_the_conformance_readme_table(write_recipe: Callable[..., Path]) -> None:
    path = write_recipe("sub/r.py", "[tool.runspec]")
    data = runspec.parse(path).to_dict()
    assert data == {
        **DEFAULTS,
        "script_path": str(path),
        "config_dir": str(path.parent / "config"),
    }
    assert Runspec(path) == runspec.parse(path)
    assert (RunspecRun(), RunspecConfig(), RunspecResources()) == (
        RunspecRun("torchrun", None, None),
        RunspecConfig("./config", "default", "omegaconf"),
        RunspecResources(1, 8),
    )


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        ("./config", "sub/config"),
        ("conf/../confs", "sub/confs"),
        ("../shared/cfg", "shared/cfg"),
        (".", "sub"),
        ("/abs/configs", "/abs/configs"),
    ],
    ids=["default", "normalised", "parent", "script-folder", "absolute"],
)
def test_config_dir(
    tmp_path: Path, write_recipe: Callable[..., Path], directory: str, expected: str
) -> None:
    path = write_recipe("sub/r.py", f'[tool.runspec.config]\ndir = "{directory}"')
    assert runspec.parse(path).config_dir == tmp_path / expected


def test_script_path_is_absolute(
    tmp_path: Path, write_recipe: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recipe("sub/r.py", "[tool.runspec]")
    monkeypatch.chdir(tmp_path / "sub")
    recipe = runspec.parse("r.py")
    assert recipe.script_path == tmp_path / "sub" / "r.py"
    assert recipe.config_dir == tmp_path / "sub" / "config"


@pytest.mark.parametrize(
    ("toml", "dependencies", "requires_python"),
    [
        ("[tool.runspec]", None, None),
        ('dependencies = ["numpy>=2", "rich"]\n[tool.runspec]', ("numpy>=2", "rich"), None),
        ("dependencies = []\n[tool.runspec]", (), None),
        ('requires-python = ">=3.10"\n[tool.runspec]', None, ">=3.10"),
    ],
    ids=["neither", "dependencies", "empty-dependencies", "requires-python"],
)
def test_pep723_fields_only_when_written(
    write_recipe: Callable[..., Path],
    toml: str,
    dependencies: tuple[str, ...] | None,
    requires_python: str | None,
) -> None:
    recipe = runspec.parse(write_recipe("r.py", toml))
    assert (recipe.dependencies, recipe.requires_python) == (dependencies, requires_python)
    data = recipe.to_dict()
    assert ("dependencies" in data) == (dependencies is not None)
    assert ("requires_python" in data) == (requires_python is not None)


PARSE_ERRORS = [
    ("no-block", "x = 1\n", "R: no '# /// script' metadata block"),
    ("no-table", block("dependencies = []"), f"R:1: {NO_TABLE}"),
    ("tool-not-a-table", block("tool = 5"), f"R:2: {NO_TABLE}"),
    (
        "subtable-not-a-table",
        block("[tool.runspec]\nenv = ['A']"),
        "R:3: tool.runspec.env: must be a table (got ['A'])",
    ),
    (
        "invalid-toml",
        block("[tool.runspec]\nname ="),
        "R:3: invalid TOML: Invalid value (column 9)",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in PARSE_ERRORS], ids=[c[0] for c in PARSE_ERRORS]
)
@pytest.mark.parametrize("reader", [runspec.parse, runspec.load], ids=["parse", "load"])
def test_parse_and_load_errors(
    tmp_path: Path, text: str, message: str, reader: Callable[[Path], Runspec]
) -> None:
    path = tmp_path / "r.py"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(runspec.RunspecError) as raised:
        reader(path)
    assert str(raised.value) == message.replace("R", str(path), 1)


def test_frozen_model(write_recipe: Callable[..., Path]) -> None:
    path = write_recipe("r.py", 'dependencies = ["a"]\n[tool.runspec.env]\nA = "1"')
    recipe = runspec.parse(path)
    for target, name in [
        (recipe, "name"),
        (recipe.run, "launch"),
        (recipe.config, "dir"),
        (recipe.resources, "nodes"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(target, name, "changed")
    with pytest.raises(TypeError):
        recipe.env["A"] = "2"  # type: ignore[index]
    assert isinstance(recipe.dependencies, tuple)
    changed = dataclasses.replace(recipe, name="other")
    assert (changed.name, recipe.name) == ("other", "")


# --- load: refuses recipes with errors --------------------------------------------------

LOADS = [
    (
        "one-error",
        '[tool.runspec.run]\nlaunch = "mpirun"',
        "R:3: tool.runspec.run.launch: unknown launch 'mpirun'"
        " (expected one of: direct, ray, torchrun)",
    ),
    (
        "several-errors",
        '[tool.runspec]\nnmae = "x"\n[tool.runspec.resources]\nnodes = 0\ngpus_per_node = "gpu"',
        "R:3: tool.runspec.nmae: unknown key (did you mean 'name'?)"
        " (and 1 more; see 'runspec check')",
    ),
]


@pytest.mark.parametrize(("toml", "message"), [c[1:] for c in LOADS], ids=[c[0] for c in LOADS])
def test_load_refuses_a_recipe_with_errors(
    write_recipe: Callable[..., Path], toml: str, message: str
) -> None:
    path = write_recipe("r.py", toml)
    runspec.parse(path)  # lenient reading still works
    with pytest.raises(runspec.SpecError) as raised:
        runspec.load(path)
    assert str(raised.value) == message.replace("R", str(path), 1)


def test_load_accepts_warnings(write_recipe: Callable[..., Path]) -> None:
    path = write_recipe("r.py", '[tool.runspec.run]\nlaunch = "python"')
    assert runspec.load(path) == runspec.parse(path)
    assert [p.severity for p in runspec.check(path)] == ["warning"]


def test_load_example(repo: Path) -> None:
    recipe = runspec.load(repo / "examples" / "hello" / "train.py")
    assert (recipe.name, recipe.run.launch, recipe.config.format) == (
        "examples/hello",
        "direct",
        "json",
    )


# --- the conformance corpus -------------------------------------------------------------


def _relative(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "script_path": os.path.relpath(data["script_path"], CORPUS),
        "config_dir": os.path.relpath(data["config_dir"], CORPUS),
    }


def _declares(text: str, key: str) -> bool:
    return re.search(rf"(?m)^# {re.escape(key)}\s*=", text) is not None


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda name: Path(name).stem)
def test_corpus_show_json(name: str, cli: Callable[..., Result]) -> None:
    path = CORPUS / name
    result = cli("show", "--json", path)
    assert result.code == 0
    data = json.loads(result.out)
    assert Path(data["script_path"]).is_absolute() and Path(data["config_dir"]).is_absolute()
    text = path.read_text(encoding="utf-8")
    assert ("dependencies" in data) == _declares(text, "dependencies")
    assert ("requires_python" in data) == _declares(text, "requires-python")
    data.pop("dependencies", None)
    data.pop("requires_python", None)
    assert _relative(data) == EXPECTED[name]["spec"]


def test_corpus_pep723_fields(cli: Callable[..., Result]) -> None:
    """The README says 9 recipes list dependencies; those are the ones show reports."""
    shown = [json.loads(cli("show", "--json", CORPUS / name).out) for name in sorted(EXPECTED)]
    assert sum("dependencies" in data for data in shown) == 9
    assert all(isinstance(data.get("dependencies", []), list) for data in shown)


def _files_containing(snippet: str) -> set[str]:
    return {
        str(path)
        for path in (CORPUS / "recipes").glob("*.py")
        if snippet in path.read_text(encoding="utf-8")
    }


def test_corpus_check(cli: Callable[..., Result]) -> None:
    result = cli("check", "--json", CORPUS)
    report = json.loads(result.out)
    assert report["files"] == len(EXPECTED) == 85
    assert result.code == 0
    warnings = {p["path"] for p in report["problems"] if p["severity"] == "warning"}
    gpu = _files_containing('gpus_per_node = "gpu"')
    assert len(gpu) == 2
    assert warnings == _files_containing('launch = "python"') | gpu
    assert (report["errors"], report["warnings"], len(report["problems"])) == (0, 18, 18)
    messages = {(p["severity"], p["key"], p["message"]) for p in report["problems"]}
    assert messages == {
        (
            "warning",
            "tool.runspec.resources.gpus_per_node",
            "'gpu' is not a count; read as unset (the profile or config decides)",
        ),
        (
            "warning",
            "tool.runspec.run.launch",
            "'python' is read as 'direct'; write launch = 'direct'",
        ),
    }


# --- property: any [tool.runspec] content --------------------------------------------


def toml_value(value: object) -> str:
    """Write a value as TOML (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return json.dumps(value)


PLAUSIBLE = st.sampled_from([*LAUNCHES, *LAUNCH_ALIASES, *FORMATS, "1", "2", "./c", "gpu", ""])
SCALARS = (
    PLAUSIBLE
    | st.text(max_size=8)
    | st.integers(-3, 3)
    | st.integers()
    | st.floats(allow_nan=False)
    | st.booleans()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
TOP_KEYS = ["schema", "docs", "name", "image", "setup", "nmae"]
SUB_KEYS = {
    "run": ["launch", "cmd", "workdir", "lunch"],
    "config": ["dir", "default", "format"],
    "resources": ["nodes", "gpus_per_node", "gpus"],
    "env": ["A", "B_1", "1X", "a-b"],
}


def _entries(keys: list[str]) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=5), VALUES, max_size=5)


@st.composite
def runspec_tables(draw: st.DrawFn) -> str:
    """TOML text of a ``[tool.runspec]`` table with sub-tables, plausible and odd values."""
    top = draw(_entries(TOP_KEYS))
    lines = ["[tool.runspec]"]
    sections = []
    for name, keys in SUB_KEYS.items():
        kind = draw(st.sampled_from(["absent", "table", "value"]))
        if kind == "value":
            top[name] = draw(VALUES)
        elif kind == "table":
            sections.append((name, draw(_entries(keys))))
    lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in top.items()]
    for name, entries in sections:
        lines.append(f"[tool.runspec.{name}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in entries.items()]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tables")


def _well_typed(recipe: Runspec) -> bool:
    strings = [recipe.schema, recipe.docs, recipe.name, recipe.setup, *recipe.env.values()]
    strings += [recipe.config.dir, recipe.config.default, recipe.config.format]
    optional = [recipe.image, recipe.run.cmd, recipe.run.workdir]
    nodes, gpus = recipe.resources.nodes, recipe.resources.gpus_per_node
    return (
        all(isinstance(value, str) for value in strings)
        and all(value is None or isinstance(value, str) for value in optional)
        and recipe.run.launcher in LAUNCHES
        and recipe.config.format in FORMATS
        and type(nodes) is int and nodes >= 1
        and type(gpus) is int and gpus >= 0
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(runspec_tables())
def test_any_table_raises_only_runspec_errors(scratch: Path, toml: str) -> None:
    """parse/show/check never crash; a recipe check passes is fully typed; load agrees."""
    path = scratch / "r.py"
    path.write_text(block(toml), encoding="utf-8")
    problems = runspec.check(path)
    errors = [problem for problem in problems if problem.severity == "error"]
    try:
        recipe = runspec.parse(path)
        json.dumps(recipe.to_dict(), default=str)
        render_summary(recipe.to_dict())
    except runspec.RunspecError:
        assert errors
        return
    if errors:
        with pytest.raises(runspec.SpecError):
            runspec.load(path)
    else:
        assert _well_typed(recipe)
        assert runspec.load(path) == recipe


def test_check_reports_a_cmd_that_cannot_be_split(write_recipe):
    path = write_recipe("r.py", '[tool.runspec]\n[tool.runspec.run]\ncmd = "python {script} \'oops"')
    assert [str(p) for p in runspec.check(path)] == [
        f"{path}:4: error: tool.runspec.run.cmd: cannot split the command: No closing quotation"
    ]
