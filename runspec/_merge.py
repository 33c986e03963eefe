"""Deep merging and copying of TOML/JSON-shaped trees (tables, arrays, scalars)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["copy_tree", "deep_merge", "iso_text", "json_ready"]


def copy_tree(value: Any) -> Any:
    """Return a copy of ``value`` whose tables are new dicts and whose arrays are new lists.

    Tuples stay tuples (their items are copied); scalars are returned as they are.
    """
    if isinstance(value, Mapping):
        return {key: copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_tree(item) for item in value]
    if isinstance(value, tuple):
        return tuple(copy_tree(item) for item in value)
    return value


def iso_text(value: Any) -> Any:
    """A TOML (or YAML) date, time or date-time as its ISO 8601 text; anything else as is.

    ``1979-05-27`` gives ``"1979-05-27"``, ``1979-05-27T07:32:00Z`` gives
    ``"1979-05-27T07:32:00+00:00"``, ``07:32:00`` gives ``"07:32:00"``.
    """
    import datetime

    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    return value


def json_ready(value: Any) -> Any:
    """A copy of ``value`` as JSON can hold it: dates and times become ISO 8601 text."""
    if isinstance(value, Mapping):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return iso_text(value)


def deep_merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """Return a new dict: ``base`` with ``child`` laid over it.

    Where both hold a table under the same key the tables are merged the same way;
    every other value of ``child`` (scalars, arrays, a table over a scalar) replaces
    the one in ``base``. Neither input is changed, and the result shares no table or
    array with them.
    """
    merged: dict[str, Any] = copy_tree(base)
    for key, value in child.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy_tree(value)
    return merged
