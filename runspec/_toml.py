"""TOML reading: ``tomllib`` on Python 3.11+, the ``tomli`` backport on 3.10."""

from __future__ import annotations

# The ignores cover both interpreters mypy may check for: tomllib is missing from
# 3.10's stubs, and on 3.11+ the fallback redefines the name.
try:
    import tomllib as _toml  # type: ignore[import-not-found,unused-ignore]
except ModuleNotFoundError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as _toml  # type: ignore[no-redef,unused-ignore]

__all__ = ["TOMLDecodeError", "key_lines", "line_of", "loads"]

TOMLDecodeError = _toml.TOMLDecodeError
loads = _toml.loads

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
