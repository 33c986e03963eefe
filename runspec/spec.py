"""The ``[tool.runspec]`` model: frozen dataclasses, lenient parsing, strict checking.

:func:`parse` keeps values exactly as written (so ``show`` reports what a recipe
says); :func:`check` validates everything and reports every problem at once.
Commands that act on a recipe call :func:`load`, which refuses a recipe that
has check errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
    "Runspec",
    "RunspecConfig",
    "RunspecResources",
    "RunspecRun",
    "check",
    "inspect",
    "load",
    "parse",
]

LAUNCHES = ("direct", "ray", "torchrun")
LAUNCH_ALIASES = MappingProxyType({"python": "direct"})
FORMATS = ("json", "omegaconf", "yaml")
_TABLE = ("tool", "runspec")


def _table(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"must be a table (got {value!r})", key=".".join((*_TABLE, key)))
    return value


@dataclass(frozen=True)
class RunspecRun:
    """``[tool.runspec.run]``: how the script is launched."""

    launch: str = "torchrun"
    cmd: str | None = None
    workdir: str | None = None

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> RunspecRun:
        """Build from the TOML table, keeping values as written."""
        return cls(table.get("launch", "torchrun"), table.get("cmd"), table.get("workdir"))

    @property
    def launcher(self) -> str:
        """The launch method with aliases resolved (``python`` is ``direct``)."""
        return LAUNCH_ALIASES.get(self.launch, self.launch)


@dataclass(frozen=True)
class RunspecConfig:
    """``[tool.runspec.config]``: where the recipe's configs live and how they are read."""

    dir: str = "./config"
    default: str = "default"
    format: str = "omegaconf"

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> RunspecConfig:
        """Build from the TOML table, keeping values as written."""
        defaults = cls()
        return cls(
            table.get("dir", defaults.dir),
            table.get("default", defaults.default),
            table.get("format", defaults.format),
        )


@dataclass(frozen=True)
class RunspecResources:
    """``[tool.runspec.resources]``: the recipe's default nodes and GPUs per node."""

    nodes: int = 1
    gpus_per_node: int = 8

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> RunspecResources:
        """Build from the TOML table, keeping values as written."""
        return cls(table.get("nodes", 1), table.get("gpus_per_node", 8))

    @property
    def gpus(self) -> int | None:
        """``gpus_per_node`` as a count; None for a placeholder such as ``"gpu"`` (unset)."""
        value = self.gpus_per_node
        return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Runspec:
    """Everything a recipe script declares about itself.

    Values are kept as written; a recipe that :func:`check` reports no errors
    for has every field of the declared type.
    """

    script_path: Path
    schema: str = "1"
    docs: str = ""
    name: str = ""
    image: str | None = None
    setup: str = ""
    run: RunspecRun = RunspecRun()
    config: RunspecConfig = RunspecConfig()
    resources: RunspecResources = RunspecResources()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    dependencies: tuple[str, ...] | None = None
    requires_python: str | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], script_path: str | Path) -> Runspec:
        """Build from a parsed ``script`` block; structural problems raise :class:`SpecError`."""
        tool = metadata.get("tool", {})
        spec = tool.get("runspec") if isinstance(tool, Mapping) else None
        if not isinstance(spec, Mapping):
            raise SpecError("no [tool.runspec] table in the '# /// script' block")
        setup = spec.get("setup", "")
        dependencies = metadata.get("dependencies")
        return cls(
            script_path=Path(os.path.abspath(script_path)),
            schema=spec.get("schema", "1"),
            docs=spec.get("docs", ""),
            name=spec.get("name", ""),
            image=spec.get("image"),
            setup=setup.strip() if isinstance(setup, str) else setup,
            run=RunspecRun.from_mapping(_table(spec, "run")),
            config=RunspecConfig.from_mapping(_table(spec, "config")),
            resources=RunspecResources.from_mapping(_table(spec, "resources")),
            env=MappingProxyType(dict(_table(spec, "env"))),
            dependencies=tuple(dependencies) if isinstance(dependencies, list) else dependencies,
            requires_python=metadata.get("requires-python"),
        )

    @property
    def config_dir(self) -> Path:
        """The recipe's config folder, absolute."""
        return Path(os.path.normpath(self.script_path.parent / str(self.config.dir)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``runspec show --json``."""
        data: dict[str, Any] = {
            "schema": self.schema,
            "docs": self.docs,
            "name": self.name,
            "image": self.image,
            "setup": self.setup,
            "run": {"launch": self.run.launch, "cmd": self.run.cmd, "workdir": self.run.workdir},
            "config": {
                "dir": self.config.dir,
                "default": self.config.default,
                "format": self.config.format,
            },
            "resources": {
                "nodes": self.resources.nodes,
                "gpus_per_node": self.resources.gpus_per_node,
            },
            "env": dict(self.env),
            "script_path": str(self.script_path),
            "config_dir": str(self.config_dir),
        }
        if self.dependencies is not None:
            depends = self.dependencies
            data["dependencies"] = list(depends) if isinstance(depends, tuple) else depends
        if self.requires_python is not None:
            data["requires_python"] = self.requires_python
        return data


def _read(path: str | Path) -> tuple[Runspec, Mapping[str, Any], Block]:
    metadata, block = read_metadata(path)
    try:
        return Runspec.from_metadata(metadata, path), metadata, block
    except SpecError as exc:
        lines = key_lines(block.content)
        line = line_of(lines, tuple((exc.key or ".".join(_TABLE)).split(".")))
        exc.path, exc.line = path, block.start_line + (line or 0)
        raise


def parse(path: str | Path) -> Runspec:
    """Read a recipe script's ``[tool.runspec]`` metadata, keeping values as written."""
    return _read(path)[0]


def load(path: str | Path) -> Runspec:
    """Read a recipe for acting on it: like :func:`parse`, but check errors are refused."""
    spec, metadata, block = _read(path)
    errors = [p for p in _Checker(path, block).run(metadata) if p.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; see 'runspec check')" if len(errors) > 1 else ""
        raise SpecError(first.message + more, path=path, line=first.line, key=first.key)
    return spec


def inspect(path: str | Path) -> tuple[Runspec, list[Problem]]:
    """Read a recipe once and return it as written together with its problems."""
    spec, metadata, block = _read(path)
    return spec, _Checker(path, block).run(metadata)


def check(path: str | Path) -> list[Problem]:
    """Validate a recipe script and return every problem found (errors and warnings)."""
    try:
        metadata, block = read_metadata(path)
    except RunspecError as exc:
        return [Problem.from_error(exc)]
    return _Checker(path, block).run(metadata)


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

    def __init__(self, path: str | Path, block: Block) -> None:
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
            self.report((), "no [tool.runspec] table in the '# /// script' block")
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
