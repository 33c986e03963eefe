"""The core's layout: no import cycles, re-exports that resolve, packages that load lazily."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "runspec"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def _imports(name: str) -> set[str]:
    """The core modules ``name`` imports at run time, at the top or inside functions."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = ".".join([*here[: len(here) - node.level + 1], *filter(None, [node.module])])
        for alias in node.names:
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found - {name}


GRAPH = {name: _imports(name) for name in MODULES}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_graph_sees_the_imports() -> None:
    assert GRAPH["runspec.slurm.cluster"] >= {"runspec.slurm.render", "runspec.slurm.transport"}
    assert "runspec.run.pipeline.engine" in GRAPH["runspec.run.local"]  # inside a function


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_cycle(name: str) -> None:
    assert name not in _reachable(name)


def test_the_renderer_does_not_import_the_doers() -> None:
    assert not _reachable("runspec.slurm.render") & {
        "runspec.slurm.cluster", "runspec.slurm.transport"
    }  # fmt: skip


PACKAGES = ["runspec.cli", "runspec.run", "runspec.run.pipeline", "runspec.slurm"]


@pytest.mark.parametrize("package", PACKAGES)
def test_reexports_resolve_to_their_definitions(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert value.__module__.startswith(package + "."), name
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        getattr(module, "nope")  # noqa: B009


LOADED = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith("runspec"))))
"""


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("runspec.cli", ["runspec.run", "runspec.slurm", "runspec.job"]),
        ("runspec.slurm.cluster", ["runspec.slurm.render", "runspec.launch", "runspec.template"]),
        ("runspec.run.pipeline.steps", ["runspec.run.pipeline.engine"]),
        ("runspec.run.executor", ["runspec.run.local", "runspec.slurm"]),
    ],
    ids=["cli", "slurm-cluster", "pipeline-steps", "run-executor"],
)
def test_importing_a_module_loads_only_what_it_needs(module: str, absent: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, module], cwd=REPO, capture_output=True, text=True,
        timeout=60, check=True, env={"PYTHONPATH": str(REPO), "PATH": ""},
    )  # fmt: skip
    loaded = json.loads(done.stdout)
    assert module in loaded
    assert [name for name in absent if name in loaded] == []
