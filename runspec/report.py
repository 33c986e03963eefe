"""Pure renderers of what ``show``, ``check`` and ``list`` print.

Recipes come as what they declare (:func:`runspec.declaration.describe`, the form
``show --json`` prints, also ``Runspec.to_dict()``), so that these read-only
commands never need the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import Problem

__all__ = ["problems_json", "render_report", "render_summary", "render_table", "render_tree"]


def _resources(recipe: Mapping[str, Any], nodes: str = "", gpus: str = "") -> str:
    resources = recipe["resources"]
    return f"{resources['nodes']}{nodes} x {resources['gpus_per_node']}{gpus}"


def render_summary(recipe: Mapping[str, Any]) -> str:
    """A readable summary of one recipe (as described), as ``runspec show`` prints it."""
    run, config = recipe["run"], recipe["config"]
    rows = [
        ("name", recipe["name"] or "(unnamed)"),
        ("script", str(recipe["script_path"])),
        ("image", recipe["image"] or "(none)"),
        ("launch", f"{run['launch']}" + (f" (cmd: {run['cmd']})" if run["cmd"] else "")),
        ("workdir", run["workdir"] or "(none)"),
        ("resources", f"{_resources(recipe, ' node(s)', ' GPU(s)')}"),
        ("config", f"{recipe['config_dir']}/{config['default']} ({config['format']})"),
        ("env", ", ".join(f"{k}={v}" for k, v in recipe["env"].items()) or "(none)"),
        ("docs", recipe["docs"] or "(none)"),
    ]
    if recipe.get("requires_python") is not None:
        rows.append(("python", str(recipe["requires_python"])))
    if recipe.get("dependencies") is not None:
        depends = recipe["dependencies"]
        listed = ", ".join(map(str, depends)) if isinstance(depends, list) else str(depends)
        rows.append(("depends", listed or "(none)"))
    lines = [f"{key:<10} {value}" for key, value in rows]
    if recipe["setup"]:
        lines.append("setup      " + str(recipe["setup"]).replace("\n", "\n" + " " * 11))
    return "\n".join(lines) + "\n"


def render_report(problems: Sequence[Problem], files: int) -> str:
    """The ``runspec check`` report: one line per problem, then a summary line."""
    errors = sum(problem.severity == "error" for problem in problems)
    warnings = len(problems) - errors
    lines = [str(problem) for problem in problems]
    plural = "" if files == 1 else "s"
    lines.append(f"checked {files} file{plural}: {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines) + "\n"


def problems_json(problems: Sequence[Problem], files: int) -> dict[str, Any]:
    """The ``runspec check --json`` object."""
    items = [
        {
            "path": str(problem.path),
            "line": problem.line,
            "severity": problem.severity,
            "key": problem.key,
            "message": problem.message,
        }
        for problem in problems
    ]
    errors = sum(problem.severity == "error" for problem in problems)
    return {"files": files, "errors": errors, "warnings": len(items) - errors, "problems": items}


def render_table(recipes: Sequence[Mapping[str, Any]]) -> str:
    """The ``runspec list`` table of described recipes: name, launch, image, nodes x GPUs, path."""
    rows = [("NAME", "LAUNCH", "IMAGE", "NODES x GPUS", "PATH")]
    for recipe in recipes:
        name, image = str(recipe["name"] or "(unnamed)"), str(recipe["image"] or "-")
        path = str(recipe["script_path"])
        rows.append((name, str(recipe["run"]["launch"]), image, _resources(recipe), path))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_tree(data: Any, indent: int = 0) -> str:
    """A readable, YAML-like rendering of a job config (scalars JSON-encoded)."""
    import json

    lines = []
    pad = "  " * indent
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:\n" + render_tree(value, indent + 1).rstrip("\n"))
        else:
            lines.append(f"{pad}{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"
