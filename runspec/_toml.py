"""TOML reading: ``tomllib`` on Python 3.11+, the ``tomli`` backport on 3.10."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ._limits import MAX_DEPTH, tree_problem
from .errors import RunspecError

# The ignores cover both interpreters mypy may check for: tomllib is missing from
# 3.10's stubs, and on 3.11+ the fallback redefines the name.
_toml: ModuleType | None
try:
    import tomllib as _toml  # type: ignore[import-not-found,unused-ignore]
except ModuleNotFoundError:  # Python 3.10: the same parser, packaged as tomli
    try:
        import tomli as _toml  # type: ignore[no-redef,unused-ignore]
    except ModuleNotFoundError:  # a bare 3.10: say what to install once TOML is read
        _toml = None

__all__ = ["BARE_KEY", "TOML_ERRORS", "TOMLLimitError", "key_lines", "line_of", "loads"]


class _NoParserError(ValueError):
    """Stands in for the parser's error type when there is no parser to raise it."""


class TOMLLimitError(ValueError):
    """Valid TOML that runspec refuses: nested too deeply, or an integer out of range."""


def _no_parser(text: str) -> dict[str, Any]:
    raise RunspecError("reading TOML on Python 3.10 needs the tomli package: pip install tomli")


_DecodeError: type[ValueError] = _toml.TOMLDecodeError if _toml else _NoParserError
_parse: Callable[[str], dict[str, Any]] = _toml.loads if _toml else _no_parser

TOML_ERRORS: tuple[type[ValueError], ...] = (_DecodeError, TOMLLimitError)
"""What :func:`loads` raises for text it refuses (a ``ValueError`` with the reason)."""


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text; refuse it when it nests too deeply or holds a non-64-bit integer.

    Raises one of :data:`TOML_ERRORS`; a message without ``(at line L, column C)``
    has no known place.
    """
    try:
        data = _parse(text)
    except _DecodeError:
        raise
    except RecursionError:  # the parser recurses into arrays and inline tables
        raise TOMLLimitError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # an integer with more digits than Python converts
        raise TOMLLimitError("integer out of range (TOML integers are 64-bit)") from None
    problem = tree_problem(data, toml=True)
    if problem:
        raise TOMLLimitError(problem)
    return data

BARE_KEY = r"[A-Za-z0-9_-]+"
"""A TOML key that needs no quotes."""
_ONE_KEY = rf"(?:{BARE_KEY}|\"(?:[^\"\\]|\\.)*\"|'[^'\n]*')"
_DOTTED_KEY = rf"{_ONE_KEY}(?:[ \t]*\.[ \t]*{_ONE_KEY})*"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The table-header and key-line patterns, compiled on first use (not at start-up)."""
    header = re.compile(rf"[ \t]*(\[\[?)[ \t]*({_DOTTED_KEY})[ \t]*\]")
    return header, re.compile(rf"[ \t]*({_DOTTED_KEY})[ \t]*=")


def _split_key(dotted: str) -> tuple[str, ...] | None:
    if '"' not in dotted and "'" not in dotted:
        return tuple(part.strip() for part in dotted.split("."))
    try:  # quoted parts may hold dots and escapes: the TOML parser splits them right
        node: Any = _parse(f"{dotted} = 0")
    except (_DecodeError, RecursionError):
        return None
    parts: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        ((key, node),) = node.items()
        parts.append(key)
    return tuple(parts)


def _string_end(text: str, start: int) -> int:
    quote, index = text[start], start + 1
    while index < len(text):
        if quote == '"' and text[index] == "\\":
            index += 2
        elif text[index] == quote:
            return index + 1
        else:
            index += 1
    return len(text)


def _long_string_end(text: str, start: int, quote: str) -> int:
    index = start
    while index < len(text):
        if quote == '"""' and text[index] == "\\":
            index += 2
        elif text.startswith(quote, index):
            end = index + 3
            while end < len(text) and end < index + 5 and text[end] == quote[0]:
                end += 1
            return end
        else:
            index += 1
    return -1


def _scan(text: str, quote: str | None, depth: int) -> tuple[str | None, int]:
    """Follow one line's multi-line strings and brackets; return the state after it."""
    index = 0
    while index < len(text):
        if quote is not None:
            end = _long_string_end(text, index, quote)
            if end < 0:
                return quote, depth
            index, quote = end, None
        elif text[index] == "#":
            break
        elif text.startswith(('"""', "'''"), index):
            quote, index = text[index : index + 3], index + 3
        elif text[index] in "\"'":
            index = _string_end(text, index)
        else:
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(text[index], 0)
            index += 1
    return quote, depth


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map key paths (table headers and ``key =`` lines) to the line first defining them.

    TOML parsers give no positions, so this follows the text: statements are only
    looked for where no multi-line string, array or inline table is open.
    """
    header_pattern, key_pattern = _patterns()
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] | None = ()
    quote: str | None = None
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        rest = line
        if quote is None and depth <= 0:
            header = header_pattern.match(line)
            key_line = None if header else key_pattern.match(line)
            if header:
                path = _split_key(header.group(2))
                table = path if header.group(1) == "[" else None
                if path:
                    found.setdefault(path, number)
                continue
            if key_line:
                path = _split_key(key_line.group(1))
                if path and table is not None:
                    for size in range(1, len(path) + 1):
                        found.setdefault(table + path[:size], number)
                rest = line[key_line.end() :]
        quote, depth = _scan(rest, quote, max(depth, 0))
    return found


def line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """Return the line of ``path``, or of its nearest ancestor that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
