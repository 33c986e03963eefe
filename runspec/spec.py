"""The ``[tool.runspec]`` model: frozen dataclasses, lenient parsing, strict checking.

:func:`parse` keeps values exactly as written (so ``show`` reports what a recipe
says); :func:`check` validates everything and reports every problem at once.
Commands that act on a recipe call :func:`load`, which refuses a recipe that
has check errors. The reading and checking rules live in :mod:`runspec.declaration`;
this module builds the model from what it reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .declaration import FORMATS, LAUNCH_ALIASES, LAUNCHES, check, checked, describe, located
from .errors import Problem, SpecError
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
        data = describe(metadata, script_path)
        dependencies = data.get("dependencies")
        return cls(
            script_path=Path(data["script_path"]),
            schema=data["schema"],
            docs=data["docs"],
            name=data["name"],
            image=data["image"],
            setup=data["setup"],
            run=RunspecRun(**data["run"]),
            config=RunspecConfig(**data["config"]),
            resources=RunspecResources(**data["resources"]),
            env=MappingProxyType(data["env"]),
            dependencies=tuple(dependencies) if isinstance(dependencies, list) else dependencies,
            requires_python=data.get("requires_python"),
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
        raise located(exc, block, path) from None


def parse(path: str | Path) -> Runspec:
    """Read a recipe script's ``[tool.runspec]`` metadata, keeping values as written."""
    return _read(path)[0]


def load(path: str | Path) -> Runspec:
    """Read a recipe for acting on it: like :func:`parse`, but check errors are refused."""
    spec, metadata, block = _read(path)
    errors = [p for p in checked(metadata, block, path) if p.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; see 'runspec check')" if len(errors) > 1 else ""
        raise SpecError(first.message + more, path=path, line=first.line, key=first.key)
    return spec


def inspect(path: str | Path) -> tuple[Runspec, list[Problem]]:
    """Read a recipe once and return it as written together with its problems."""
    spec, metadata, block = _read(path)
    return spec, checked(metadata, block, path)
