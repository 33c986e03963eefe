"""Recipe configs: choosing the file and loading it, dispatching on ``config.format``.

``json`` configs are read by the core with no dependencies. ``yaml`` and
``omegaconf`` configs are read by ``runspec_extras.omegaconf_config`` (the
``omegaconf`` extra), imported only then; see :mod:`runspec._extras` for the
errors when it is missing or broken.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._limits import MAX_DEPTH, digits_limit, tree_problem
from .errors import ConfigError
from .spec import Runspec

__all__ = ["SUFFIXES", "available_configs", "find_config", "load_config"]

#: file suffixes tried for a config name, by ``config.format``
SUFFIXES = {"json": (".json",), "yaml": (".yaml", ".yml"), "omegaconf": (".yaml", ".yml")}


def available_configs(spec: Runspec) -> tuple[str, ...]:
    """The config names in the recipe's config folder, for its format."""
    suffixes = SUFFIXES.get(spec.config.format, ())
    try:
        names = os.listdir(spec.config_dir)
    except OSError:
        return ()
    stems = {Path(name).stem for name in names if Path(name).suffix in suffixes}
    return tuple(sorted(stems))


def find_config(spec: Runspec, choice: str | None = None) -> Path:
    """Return the config file for ``choice``: a name in the config folder, or a path.

    ``None`` means the recipe's ``config.default``. A choice that names an existing
    file, or contains a path separator or a suffix, is taken as a path.
    """
    name = choice or spec.config.default
    looks_like_path = (
        os.sep in name or "/" in name or Path(name).suffix in (".json", ".yaml", ".yml")
    )
    if choice and (looks_like_path or os.path.isfile(name)):
        if os.path.isdir(name):
            raise ConfigError("is a folder, not a config file", path=name)
        if not os.path.isfile(name):
            raise ConfigError("no such config file", path=name)
        return Path(os.path.abspath(name))
    for suffix in SUFFIXES.get(spec.config.format, (".json",)):
        candidate = spec.config_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = ", ".join(available_configs(spec)) or "none"
    message = f"no config {name!r} in {spec.config_dir} (available: {known})"
    raise ConfigError(message, path=spec.script_path, key="tool.runspec.config")


def load_config(path: Path, format: str) -> dict[str, Any]:
    """Load a config file as a plain dict: by its suffix, else by the recipe's format."""
    if path.suffix in (".yaml", ".yml"):
        return _load_with_extra(path, "yaml" if format == "json" else format)
    if path.suffix == ".json" or format == "json":
        return _load_json(path)
    return _load_with_extra(path, format)


def _load_json(path: Path) -> dict[str, Any]:
    import json

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno
        ) from None
    except RecursionError:
        message = f"invalid JSON: nested more than {MAX_DEPTH} levels deep"
        raise ConfigError(message, path=path) from None
    except ValueError:  # an integer with more digits than Python converts
        message = f"invalid JSON: integer has more than {digits_limit()} digits"
        raise ConfigError(message, path=path) from None
    problem = tree_problem(data)
    if problem:
        raise ConfigError(f"invalid JSON: {problem}", path=path)
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        message = "invalid JSON: a \\u escape is a lone surrogate, not UTF-8 text"
        raise ConfigError(message, path=path) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"a config must be an object at the top (got {type(data).__name__})", path=path
        )
    return data


def _load_with_extra(path: Path, format: str) -> dict[str, Any]:
    from ._extras import calling_extra, import_extra

    module = import_extra(
        "runspec_extras.omegaconf_config", "omegaconf", f"reading {format} configs", path
    )
    with calling_extra(path):
        data: dict[str, Any] = module.load_config(path, format)
    return data
