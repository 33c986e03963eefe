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
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from runspec.errors import ConfigError, RunspecError

from ._optional import import_problem, importing

if TYPE_CHECKING:
    from omegaconf import DictConfig

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
    from ._defaults import apply_defaults

    return apply_defaults(document)


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text of a job config: keys in order, read back by :func:`load_config` as equal.

    ``${...}`` strings are kept as written. A top-level ``defaults`` key would be read
    back by the ``omegaconf`` format as inheritance, so a job config should not have one.
    """
    with importing("writing YAML configs"):
        from ._yaml import dump_yaml
    return dump_yaml(config)


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

    from ._defaults import first_line

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
        raise ConfigError(first_line(exc), path=path, key=key) from None


def _split_args(args: list[str]) -> tuple[str | None, list[str]]:
    """``--config PATH`` and the overrides; anything else is refused, all of it named."""
    config: str | None = None
    overrides: list[str] = []
    unknown: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--config" or arg.startswith("--config="):
            config = arg.partition("=")[2] if "=" in arg else next(rest, "")
            if not config:
                raise ConfigError("--config needs a PATH")
        elif arg.startswith("~") or ("=" in arg and not arg.startswith("-")):
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
