"""``defaults:`` inheritance of OmegaConf configs: which files, in which order, merged how.

``defaults:`` names one config or a list of them (``.yaml`` implied, relative to the
file that asks); they are merged in order with OmegaConf's merge, then the file itself,
or the file at the place of ``_self_``. Bases may have their own ``defaults:``; a
cycle is an error that prints the chain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runspec.errors import ConfigError

from ._optional import importing
from ._yaml import YamlDocument, read_yaml

__all__ = ["apply_defaults", "first_line"]

_SELF = "_self_"
_SUFFIXES = (".yaml", ".yml")

#: one file's part of a merge: where it came from, and its data without ``defaults``
Layer = tuple[YamlDocument, dict[str, Any]]


def apply_defaults(document: YamlDocument) -> dict[str, Any]:
    """The data of ``document`` with its ``defaults:`` list applied (and removed)."""
    top = document.path.resolve()
    layers = _layers(document, (top,), top.parent)
    return layers[0][1] if len(layers) == 1 else _merge(layers)


def _layers(document: YamlDocument, chain: tuple[Path, ...], root: Path) -> list[Layer]:
    """What to merge for ``document``, in order: its bases' layers and its own data."""
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
            names = " -> ".join(os.path.relpath(path, root) for path in (*chain, seen))
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
            message = f"invalid interpolation: {first_line(exc)}"
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
        message = f"cannot merge with the configs before it: {first_line(exc)}"
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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (OmegaConf's run over several)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
