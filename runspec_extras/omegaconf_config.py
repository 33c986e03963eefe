"""YAML and OmegaConf job configs: loading (with ``defaults:``), saving, and reading in a recipe.

runspec reads a recipe's ``yaml`` and ``omegaconf`` configs with :func:`load_config`
and saves the job config with :func:`dump_config`; a recipe reads its job config with
:func:`load_job_config`. PyYAML reads the files; omegaconf is imported only to merge
a ``defaults:`` list and by :func:`load_job_config`. See docs/configs.md.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from runspec.errors import ConfigError, RunspecError

from ._optional import import_problem, importing

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from ._yaml import YamlDocument

__all__ = [
    "FORMATS",
    "RESOLVER_MODULES",
    "dump_config",
    "load_config",
    "load_job_config",
    "register_resolvers",
]

#: the ``config.format`` values this module reads
FORMATS = ("omegaconf", "yaml")

#: Modules that add OmegaConf resolvers a job config may use (``${art:...}``).
#: :func:`register_resolvers` imports each one that is installed and calls its
#: ``register() -> None``, which must register with ``replace=True`` (it can run twice).
RESOLVER_MODULES: tuple[str, ...] = ("runspec_extras.artifacts.resolvers",)

_SELF = "_self_"
_SUFFIXES = (".yaml", ".yml")


def load_config(path: str | os.PathLike[str], format: str = "omegaconf") -> dict[str, Any]:
    """Load a YAML config file as a JSON-ready dict.

    ``yaml`` is plain YAML. ``omegaconf`` reads YAML as OmegaConf does, keeps every
    ``${...}`` interpolation as text, and applies ``defaults:``: the named configs
    (``.yaml`` implied, relative to the file) merged in order with OmegaConf's merge,
    then the file itself, or the file at the place of ``_self_`` in the list.
    Raises :class:`~runspec.errors.ConfigError` (one line, with file and line).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown config format {format!r} (expected one of: omegaconf, yaml)")
    with importing(f"reading {format} configs"):
        from ._yaml import read_yaml
    document = read_yaml(Path(path), format)
    if format == "yaml" or "defaults" not in document.data:
        return document.data
    top = document.path.resolve()
    layers = _layers(document, (top,), top.parent)
    return layers[0][1] if len(layers) == 1 else _merge(layers)


def dump_config(config: dict[str, Any]) -> str:
    """YAML text of a job config: keys in order, read back by :func:`load_config` as equal.

    ``${...}`` strings are kept as written. A top-level ``defaults`` key would be read
    back by the ``omegaconf`` format as inheritance, so a job config should not have one.
    """
    with importing("writing YAML configs"):
        from ._yaml import dump_yaml
    return dump_yaml(config)


Layer = tuple["YamlDocument", dict[str, Any]]


def _layers(document: YamlDocument, chain: tuple[Path, ...], root: Path) -> list[Layer]:
    """What to merge for ``document``, in order: its bases' layers and its own data."""
    from ._yaml import read_yaml

    own = (document, {k: v for k, v in document.data.items() if k != "defaults"})
    layers: list[Layer] = []
    entries = _entries(document)
    for index, name in enumerate(entries):
        line = document.line("defaults", index)
        if name == _SELF:
            layers.append(own)
            continue
        base = _base_path(document.path, name, line)
        seen = base.resolve()
        if seen in chain:
            names = " -> ".join(_shown(path, root) for path in (*chain, seen))
            raise ConfigError(f"cycle: {names}", path=document.path, line=line, key="defaults")
        layers += _layers(read_yaml(base, "omegaconf"), (*chain, seen), root)
    return layers if _SELF in entries else [*layers, own]


def _entries(document: YamlDocument) -> list[str]:
    entries = document.data.get("defaults")
    entries = [] if entries is None else [entries] if isinstance(entries, str) else entries
    if not isinstance(entries, list):
        message = f"must be a config name or a list of names (got {entries!r})"
        line = document.line("defaults")
        raise ConfigError(message, path=document.path, line=line, key="defaults")
    for index, entry in enumerate(entries):
        if not isinstance(entry, str) or not entry:
            message = f"each entry must be a config name (got {entry!r})"
        elif entry == _SELF and entries.index(entry) != index:
            message = "lists _self_ twice"
        else:
            continue
        line = document.line("defaults", index)
        raise ConfigError(message, path=document.path, line=line, key="defaults")
    return entries


def _base_path(asking: Path, name: str, line: int | None) -> Path:
    folder = asking.parent
    if name.endswith(_SUFFIXES):
        candidates = [folder / name]
    else:
        candidates = [folder / f"{name}{suffix}" for suffix in _SUFFIXES]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        wanted = os.path.relpath(candidates[0], folder)
        raise ConfigError(f"no such config file {wanted!r}", path=asking, line=line, key="defaults")
    return found


def _shown(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


def _merge(layers: list[Layer]) -> dict[str, Any]:
    """Merge plain-data layers in order with OmegaConf, interpolations kept as text."""
    with importing("merging a defaults list"):
        from omegaconf import OmegaConf
        from omegaconf.errors import GrammarParseError, OmegaConfBaseException
    merged: Any = OmegaConf.create({})
    for document, data in layers:
        path = document.path
        try:
            merged = OmegaConf.merge(merged, OmegaConf.create(data))
        except GrammarParseError as exc:
            message = f"invalid interpolation: {_first_line(exc)}"
            raise ConfigError(message, path=path, key=getattr(exc, "full_key", None)) from None
        except (OmegaConfBaseException, TypeError) as exc:
            before = OmegaConf.to_container(merged, resolve=False)
            raise _merge_error(exc, before, data, document) from None
    result: dict[str, Any] = OmegaConf.to_container(merged, resolve=False)  # type: ignore[assignment]
    return result


def _merge_error(
    exc: Exception, before: Any, data: dict[str, Any], document: YamlDocument
) -> ConfigError:
    key = _clash(before, data)
    if key is None:
        message = f"cannot merge with the configs before it: {_first_line(exc)}"
        return ConfigError(message, path=document.path)
    message = "cannot merge a list and a mapping (one here, the other in a config merged before)"
    line = document.line(key) if "." not in key else None
    return ConfigError(message, path=document.path, line=line, key=key)


def _clash(before: Any, data: Any, where: str = "") -> str | None:
    """The first key that is a list on one side and a mapping on the other."""
    if not isinstance(before, dict) or not isinstance(data, dict):
        return None
    for key, value in data.items():
        old = before.get(key)
        if {type(old), type(value)} == {dict, list}:
            return f"{where}{key}"
        found = _clash(old, value, f"{where}{key}.")
        if found:
            return found
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# Reading the job config in a recipe ------------------------------------------------------

_USAGE = "usage: {prog} [--config PATH] [KEY=VALUE | +KEY=VALUE | ++KEY=VALUE | ~KEY ...]"


def load_job_config(
    argv: Sequence[str] | None = None, *, default: str | os.PathLike[str] | None = None
) -> DictConfig:
    """Read the job config of the running recipe: the one call a recipe makes.

    ``argv`` (the script's own arguments, ``sys.argv[1:]`` by default) holds
    ``--config PATH`` and overrides in runspec's grammar (``a.b=1``, ``+new=x``,
    ``~a.b``). Without ``--config``, ``$RUNSPEC_CONFIG`` (set by runspec for its jobs)
    and then ``default`` name the file. JSON and YAML files both work; ``defaults:``
    applies. The result is an OmegaConf ``DictConfig`` with the resolvers of
    :func:`register_resolvers` registered, so ``${oc.env:VAR}`` resolves on access.

    Like ``argparse``, a bad command line or config prints one line
    (``train.py: error: ...``) and exits with status 2; ``--help`` prints the usage.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "recipe"
    if "-h" in args or "--help" in args:
        print(_USAGE.format(prog=prog))
        raise SystemExit(0)
    try:
        return _job_config(args, default)
    except RunspecError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _job_config(args: list[str], default: str | os.PathLike[str] | None) -> DictConfig:
    from runspec.config import load_config as load_any
    from runspec.overrides import Override, apply_overrides

    given, overrides = _split_args(args)
    chosen = given or os.environ.get("RUNSPEC_CONFIG") or default
    if not chosen:
        raise ConfigError("no config given: pass --config PATH")
    path = Path(chosen)
    data = load_any(path, "omegaconf")
    data = apply_overrides(data, [Override.parse(text) for text in overrides])
    register_resolvers()
    with importing("load_job_config"):
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException
    try:
        return OmegaConf.create(data)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        raise ConfigError(_first_line(exc), path=path, key=key) from None


def _split_args(args: list[str]) -> tuple[str | None, list[str]]:
    """``--config PATH`` and the overrides; anything else is refused, all of it named."""
    config: str | None = None
    overrides: list[str] = []
    unknown: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--config":
            config = next(rest, None)
            if config is None:
                raise ConfigError("--config needs a PATH")
        elif arg.startswith("--config="):
            config = arg.partition("=")[2]
        elif arg.startswith("-") and not arg.startswith("~"):
            unknown.append(arg)
        elif "=" in arg or arg.startswith("~"):
            overrides.append(arg)
        else:
            unknown.append(arg)
    if unknown:
        names = ", ".join(repr(arg) for arg in unknown)
        raise ConfigError(f"unknown arguments: {names} (expected --config PATH and KEY=VALUE)")
    return config, overrides


def register_resolvers() -> None:
    """Register with OmegaConf every resolver a job config may use.

    ``${oc.env:VAR}`` and ``${oc.env:VAR,default}`` are OmegaConf's own. Each module
    of :data:`RESOLVER_MODULES` that is installed is imported and its ``register()``
    called; one that is not installed is passed over. Safe to call more than once.
    """
    for name in RESOLVER_MODULES:
        module = _installed(name)
        if module is not None:
            module.register()


def _installed(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and f"{name}.".startswith(f"{exc.name}."):
            return None
        raise import_problem(exc, f"registering the resolvers of {name}") from exc
    except ImportError as exc:
        raise import_problem(exc, f"registering the resolvers of {name}") from exc
