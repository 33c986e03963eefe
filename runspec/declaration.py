"""What a recipe script declares, as plain data: read leniently, checked strictly.

:func:`describe` turns a script's parsed ``# /// script`` block into the JSON form
``runspec show --json`` prints (values as written, defaults filled in); the
:class:`~runspec.spec.Runspec` model is built from that same form. :func:`check`
validates a block and reports every problem at once.

The commands that only read recipes (``show``, ``check``, ``list``) use this module
and never build the model, so they start without importing ``dataclasses`` and
``pathlib``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ._environ import ENV_NAME
from ._masking import shown
from ._toml import key_lines, line_of
from .errors import Problem, RunspecError, SpecError
from .script import Block, read_metadata

__all__ = [
    "FORMATS",
    "LAUNCHES",
    "LAUNCH_ALIASES",
    "check",
    "checked",
    "describe",
    "has_runspec_table",
    "inspect",
    "located",
    "read",
]

LAUNCHES = ("direct", "ray", "torchrun")
LAUNCH_ALIASES = MappingProxyType({"python": "direct"})
FORMATS = ("json", "omegaconf", "yaml")
_TABLE = ("tool", "runspec")
NO_TABLE = "no [tool.runspec] table in the '# /// script' block"


def has_runspec_table(metadata: Mapping[str, Any]) -> bool:
    """Whether a parsed block holds ``[tool.runspec]``: whether the script is a recipe at all."""
    tool = metadata.get("tool")
    return isinstance(tool, Mapping) and "runspec" in tool


def _table(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"must be a table (got {value!r})", key=".".join((*_TABLE, key)))
    return value


def describe(metadata: Mapping[str, Any], script_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The recipe as ``runspec show --json`` prints it: values as written, defaults filled in.

    Structural problems (no ``[tool.runspec]`` table, a sub-table that is not a
    table) raise :class:`SpecError` with the key; :func:`located` adds the line.
    """
    tool = metadata.get("tool", {})
    spec = tool.get("runspec") if isinstance(tool, Mapping) else None
    if not isinstance(spec, Mapping):
        raise SpecError(NO_TABLE)
    run, config = _table(spec, "run"), _table(spec, "config")
    resources, env = _table(spec, "resources"), _table(spec, "env")
    setup = spec.get("setup", "")
    path = os.path.abspath(script_path)
    config_dir = config.get("dir", "./config")
    data: dict[str, Any] = {
        "schema": spec.get("schema", "1"),
        "docs": spec.get("docs", ""),
        "name": spec.get("name", ""),
        "image": spec.get("image"),
        "setup": setup.strip() if isinstance(setup, str) else setup,
        "run": {"launch": run.get("launch", "torchrun"), "cmd": run.get("cmd"),
                "workdir": run.get("workdir")},
        "config": {"dir": config_dir, "default": config.get("default", "default"),
                   "format": config.get("format", "omegaconf")},
        "resources": {"nodes": resources.get("nodes", 1),
                      "gpus_per_node": resources.get("gpus_per_node", 8)},
        "env": dict(env),
        "script_path": path,
        "config_dir": os.path.normpath(os.path.join(os.path.dirname(path), str(config_dir))),
    }  # fmt: skip
    depends = metadata.get("dependencies")
    if depends is not None:
        data["dependencies"] = list(depends) if isinstance(depends, list) else depends
    if metadata.get("requires-python") is not None:
        data["requires_python"] = metadata["requires-python"]
    return data


def located(error: SpecError, block: Block, path: object) -> SpecError:
    """Give a structural error from :func:`describe` the script's path and the key's line."""
    line = line_of(key_lines(block.content), tuple((error.key or ".".join(_TABLE)).split(".")))
    error.path, error.line = path, block.start_line + (line or 0)
    return error


def _described(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Mapping[str, Any], Block]:
    metadata, block = read_metadata(path)
    try:
        return describe(metadata, path), metadata, block
    except SpecError as exc:
        raise located(exc, block, path) from None


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a recipe script: what it declares (see :func:`describe`), unchecked."""
    return _described(path)[0]


def inspect(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[Problem]]:
    """Read a recipe once: what it declares (see :func:`describe`) and its problems."""
    described, metadata, block = _described(path)
    return described, checked(metadata, block, path)


def checked(metadata: Mapping[str, Any], block: Block, path: object) -> list[Problem]:
    """Every problem of a parsed ``script`` block, errors and warnings, in line order."""
    return _Checker(path, block).run(metadata)


def check(path: str | os.PathLike[str]) -> list[Problem]:
    """Validate a recipe script and return every problem found (errors and warnings)."""
    try:
        metadata, block = read_metadata(path)
    except RunspecError as exc:
        return [Problem.from_error(exc)]
    return checked(metadata, block, path)


def _type_name(expected: type) -> str:
    return {str: "a string", int: "an integer", dict: "a table", list: "an array"}[expected]


def _is(value: object, expected: type) -> bool:
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, Mapping if expected is dict else expected)


_KEYS: dict[tuple[str, ...], dict[str, type]] = {
    (): {
        "schema": str, "docs": str, "name": str, "image": str, "setup": str,
        "run": dict, "config": dict, "resources": dict, "env": dict,
    },
    ("run",): {"launch": str, "cmd": str, "workdir": str},
    ("config",): {"dir": str, "default": str, "format": str},
    ("resources",): {"nodes": int, "gpus_per_node": int},
}  # fmt: skip


_GPU_PLACEHOLDER = (("resources", "gpus_per_node"), "gpu")
"""A spelling found in real recipes: a word where the GPU count belongs."""


class _Checker:
    """Collects every problem of one script block."""

    def __init__(self, path: object, block: Block) -> None:
        self.path = path
        self.block = block
        self.lines: dict[tuple[str, ...], int] | None = None
        self.problems: list[Problem] = []

    def report(self, keys: tuple[str, ...], message: str, severity: str = "error") -> None:
        """Record a problem at the line where ``tool.runspec.<keys>`` is written."""
        if self.lines is None:  # only located when there is a problem: the scan is not free
            self.lines = key_lines(self.block.content)
        offset = line_of(self.lines, _TABLE + keys) or 0
        key = ".".join(_TABLE + keys) if keys else None
        line = self.block.start_line + offset
        self.problems.append(Problem(severity, message, self.path, line, key))

    def run(self, metadata: Mapping[str, Any]) -> list[Problem]:
        """Check the parsed block and return the problems in line order."""
        tool = metadata.get("tool")
        spec = tool.get("runspec") if isinstance(tool, Mapping) else None
        if not isinstance(spec, Mapping):
            self.report((), NO_TABLE)
            return self.problems
        if spec.get("schema", "1") != "1":
            self.report(("schema",), f"unsupported schema {spec['schema']!r} (supported: '1')")
            return self.problems
        self._check_table((), spec)
        for name in ("run", "config", "resources"):
            if _is(spec.get(name, {}), dict):
                self._check_table((name,), spec.get(name, {}))
        self._check_values(spec)
        return sorted(self.problems, key=lambda p: p.line or 0)

    def _check_table(self, keys: tuple[str, ...], table: Mapping[str, Any]) -> None:
        known = _KEYS[keys]
        for name, value in table.items():
            if name not in known:
                import difflib  # costly to import; only needed for a misspelt key

                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(known)
                self.report((*keys, name), f"unknown key ({hint})")
            elif (*keys, name) == _GPU_PLACEHOLDER[0] and value == _GPU_PLACEHOLDER[1]:
                message = f"{value!r} is not a count; read as unset (the profile or config decides)"
                self.report((*keys, name), message, "warning")
            elif not _is(value, known[name]):
                got = shown(value, None)
                self.report((*keys, name), f"must be {_type_name(known[name])} (got {got})")

    def _check_values(self, spec: Mapping[str, Any]) -> None:
        run, config = spec.get("run", {}), spec.get("config", {})
        resources, env = spec.get("resources", {}), spec.get("env", {})
        if _is(run, dict):
            self._check_launch(run.get("launch"))
            self._check_cmd(run.get("cmd"))
        fmt = config.get("format") if _is(config, dict) else None
        if isinstance(fmt, str) and fmt not in FORMATS:
            message = f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})"
            self.report(("config", "format"), message)
        if _is(resources, dict):
            self._check_count(resources, "nodes", 1, "must be at least 1")
            self._check_count(resources, "gpus_per_node", 0, "must not be negative")
        if _is(env, dict):
            self._check_env(env)

    def _check_launch(self, launch: object) -> None:
        if not isinstance(launch, str) or launch in LAUNCHES:
            return
        if launch in LAUNCH_ALIASES:
            alias = LAUNCH_ALIASES[launch]
            message = f"{launch!r} is read as {alias!r}; write launch = {alias!r}"
            self.report(("run", "launch"), message, "warning")
        else:
            message = f"unknown launch {launch!r} (expected one of: {', '.join(LAUNCHES)})"
            self.report(("run", "launch"), message)

    def _check_cmd(self, cmd: object) -> None:
        if not isinstance(cmd, str):
            return
        import shlex

        try:
            shlex.split(cmd)
        except ValueError as exc:
            self.report(("run", "cmd"), f"cannot split the command: {exc}")

    def _check_count(self, table: Mapping[str, Any], name: str, low: int, rule: str) -> None:
        value = table.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value < low:
            self.report(("resources", name), f"{rule} (got {value!r})")

    def _check_env(self, env: Mapping[str, Any]) -> None:
        for name, value in env.items():
            if not ENV_NAME.fullmatch(name):
                self.report(("env", name), "not a valid environment variable name")
            elif not isinstance(value, str):
                got = shown(value, name)
                self.report(("env", name), f"must be a string (got {got})")
