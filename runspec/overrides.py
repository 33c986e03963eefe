"""Command-line overrides in the Hydra / OmegaConf dotlist style.

``a.b=v`` sets an existing key, ``+a.b=v`` adds a new one, ``++a.b=v`` adds or sets,
``~a.b`` deletes. Values are typed: int, float, ``true``/``false``, ``null``, JSON
lists and objects, else a string; quoting (``'...'`` or ``"..."``) keeps a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._limits import MAX_DEPTH, digits_limit, tree_problem
from .errors import OverrideError

__all__ = ["OPS", "Override", "apply_overrides"]

OPS = ("set", "add", "force", "delete")
"""What an override does: ``a=v``, ``+a=v``, ``++a=v``, ``~a``."""

_PREFIXES = (("++", "force"), ("+", "add"), ("~", "delete"))
_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_DIGITS = r"[0-9](?:_?[0-9])*"
_INT = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)")
_FLOAT = re.compile(
    rf"[+-]?(?:(?:{_DIGITS})?\.{_DIGITS}|{_DIGITS}\.)(?:[eE][+-]?[0-9]+)?"
    rf"|[+-]?{_DIGITS}[eE][+-]?[0-9]+"
)


@dataclass(frozen=True)
class Override:
    """One parsed override: what it does (one of :data:`OPS`), where, and the value."""

    op: str
    path: tuple[str, ...]
    value: Any
    text: str

    @classmethod
    def parse(cls, text: str) -> Override:
        """Parse ``key=value``, ``+key=value``, ``++key=value`` or ``~key``."""
        op, rest = "set", text
        for prefix, name in _PREFIXES:
            if text.startswith(prefix):
                op, rest = name, text[len(prefix) :]
                break
        key, equals, raw = rest.partition("=")
        if op == "delete" and equals:
            raise _invalid(text, f"a delete takes no value (write ~{key})")
        if op != "delete" and not equals:
            raise _invalid(text, "expected key=value (or ~key to delete)")
        if not key:
            raise _invalid(text, "missing key")
        if not _KEY.fullmatch(key):
            raise _invalid(text, f"bad key {key!r} (dotted names of letters, digits, '_' and '-')")
        value = None if op == "delete" else _parse_value(raw, text)
        if not _is_utf8(value):
            raise _invalid(text, "value is not valid UTF-8 text")
        return cls(op, tuple(key.split(".")), value, text)


def _is_utf8(value: Any) -> bool:
    """Whether ``value`` can be saved as UTF-8 JSON (no lone surrogate, no undecodable byte)."""
    import json

    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SHOWN = 80  # longest override quoted whole in an error; longer ones are cut to half


def _invalid(text: str, reason: str) -> OverrideError:
    from ._masking import masked_argv

    shown = masked_argv([text])[0]
    if len(shown) > _SHOWN:
        shown = shown[: _SHOWN // 2] + "..."
    return OverrideError(f"invalid override {shown!r}: {reason}")


class _NotJSON(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json reads them, JSON has none."""


def _no_constants(name: str) -> Any:
    raise _NotJSON(f"{name} is not JSON")


def _parse_value(raw: str, text: str) -> Any:
    import json

    value = raw.strip()
    if value[:1] in ("'", '"'):
        if len(value) < 2 or value[-1] != value[0]:
            raise _invalid(text, "unterminated quoted string")
        if value[0] == "'":
            return value[1:-1]
        try:
            return str(json.loads(value))
        except ValueError as error:
            raise _invalid(text, 'bad "..." string (JSON escapes apply)') from error
    if value[:1] in ("[", "{"):
        return _parse_json(value, text)
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _INT.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # more digits than Python converts
            raise _invalid(text, f"integer has more than {digits_limit()} digits") from None
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def _parse_json(value: str, text: str) -> Any:
    import json

    try:
        data = json.loads(value, parse_constant=_no_constants)
    except (json.JSONDecodeError, _NotJSON) as error:
        reason = getattr(error, "msg", str(error))
        message = f"value is not valid JSON ({reason}); quote it to keep a string"
        raise _invalid(text, message) from None
    except RecursionError:
        raise _invalid(text, f"value nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # an integer with more digits than Python converts
        raise _invalid(text, f"integer has more than {digits_limit()} digits") from None
    problem = tree_problem(data)
    if problem:
        raise _invalid(text, f"value {problem}")
    return data


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(item) for item in value]
    return value


def apply_overrides(
    config: Mapping[str, Any],
    overrides: Sequence[Override],
    *,
    open_prefixes: tuple[tuple[str, ...], ...] = (),
) -> dict[str, Any]:
    """Return a deep copy of ``config`` with ``overrides`` applied in order.

    Below any path in ``open_prefixes`` a plain ``a.b=v`` may create the key (and any
    missing tables on the way), as ``++a.b=v`` would.
    """
    result: dict[str, Any] = _thaw(config)
    for override in overrides:
        _apply(result, override, open_prefixes)
    return result


def _kind(value: Any) -> str:
    return (
        "a table"
        if isinstance(value, dict)
        else "a list"
        if isinstance(value, list)
        else type(value).__name__
    )


def _apply(
    root: dict[str, Any], override: Override, open_prefixes: tuple[tuple[str, ...], ...]
) -> None:
    path, op = override.path, override.op
    dotted = ".".join(path)
    opened = any(
        len(path) > len(prefix) and path[: len(prefix)] == prefix for prefix in open_prefixes
    )
    creates = op in ("add", "force") or (op == "set" and opened)
    node: Any = root
    for depth, part in enumerate(path):
        where = ".".join(path[:depth])
        last = depth == len(path) - 1
        if isinstance(node, list):
            index = int(part) if part.isdigit() else len(node)
            if index >= len(node):
                raise OverrideError(f"no such index ({where} has {len(node)} items)", key=dotted)
            exists = True
        elif isinstance(node, dict):
            exists = part in node
            index = -1
        else:
            raise OverrideError(f"{where} is {_kind(node)}, not a table", key=dotted)
        key: Any = index if isinstance(node, list) else part
        if last:
            _change(node, key, exists, override, creates, dotted)
            return
        if not exists and creates:
            node[key] = {}
        elif not exists:
            raise _missing(op, dotted)
        node = node[key]


def _missing(op: str, dotted: str) -> OverrideError:
    if op == "delete":
        return OverrideError("no such key to delete", key=dotted)
    return OverrideError(f"no such key to set (use +{dotted}=... to add it)", key=dotted)


def _change(
    node: Any, key: Any, exists: bool, override: Override, creates: bool, dotted: str
) -> None:
    if override.op == "delete":
        if not exists:
            raise _missing("delete", dotted)
        del node[key]
    elif override.op == "add" and exists:
        raise OverrideError(f"already exists (use ++{dotted}=... to set it)", key=dotted)
    elif not exists and not creates:
        raise _missing(override.op, dotted)
    else:
        node[key] = _thaw(override.value)
