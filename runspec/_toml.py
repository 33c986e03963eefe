"""TOML reading: ``tomllib`` on Python 3.11+, the ``tomli`` backport on 3.10."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

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

__all__ = ["TOMLDecodeError", "key_lines", "line_of", "loads"]


class _NoParserError(ValueError):
    """Stands in for the parser's error type when there is no parser to raise it."""


def _no_parser(text: str) -> dict[str, Any]:
    raise RunspecError("reading TOML on Python 3.10 needs the tomli package: pip install tomli")


TOMLDecodeError: type[ValueError] = _toml.TOMLDecodeError if _toml else _NoParserError
loads: Callable[[str], dict[str, Any]] = _toml.loads if _toml else _no_parser

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"


def _split(dotted: str) -> tuple[str, ...]:
    import re

    parts = re.findall(_KEY_PART, dotted)
    return tuple(part[1:-1] if part[0] in "\"'" else part for part in parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map every table header and key path of a TOML text to its 1-based line.

    TOML parsers do not report where a key was written; this light scan of
    ``[table]`` headers and ``key =`` lines finds it, so errors can say where.
    Lines inside multi-line strings are skipped.
    """
    import re

    header = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?")
    assignment = re.compile(rf"\s*({_DOTTED})\s*=")
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        match = header.match(line)
        if match:
            table = _split(match.group(1))
            found.setdefault(table, number)
        elif match := assignment.match(line):
            found.setdefault(table + _split(match.group(1)), number)
        in_string = quotes % 2 == 1
    return found


def line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """Return the line of ``path``, or of its nearest ancestor that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
