"""The previous block scanner, kept as an oracle for the streaming one in runspec.script.

It reads a whole text at once: split into lines, closing lines found in one backward
pass, blocks collected in one forward pass. Its results (blocks, and the first broken
``script`` opening with its reason) define what the streaming scanner must return.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_START = re.compile(r"# /// ([a-zA-Z0-9-]+)")
_CLOSE = "# ///"
_NEWLINE = re.compile(r"\r\n|\r|\n")


class Block(NamedTuple):
    type: str
    start_line: int
    end_line: int
    content: str


class Broken(NamedTuple):
    start_line: int
    line: int
    reason: str


def _is_comment(line: str) -> bool:
    return line == "#" or line.startswith("# ")


def _closing_lines(lines: list[str]) -> list[int | None]:
    close: list[int | None] = [None] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if not _is_comment(line):
            continue
        touching = i + 1 < len(lines) and _START.fullmatch(lines[i + 1]) is not None
        if line == _CLOSE and (touching or close[i + 1] is None):
            close[i] = i
        else:
            close[i] = close[i + 1]
    return close


def _why_unclosed(lines: list[str], start: int) -> Broken:
    i = start + 1
    while i < len(lines) and _is_comment(lines[i]):
        if lines[i] != _CLOSE and lines[i].rstrip() == _CLOSE:
            reason = f"the closing line has trailing whitespace ({lines[i]!r} must be '# ///')"
            return Broken(start + 1, i + 1, reason)
        i += 1
    if i < len(lines) and lines[i].startswith("#"):
        reason = f"line {i + 1} is neither '#' nor '# ...' ({lines[i][:20]!r})"
        return Broken(start + 1, i + 1, reason + " before the closing '# ///'")
    at_end = i >= len(lines) - 1 and not "".join(lines[i:])
    where = "the end of the file" if at_end else f"line {i + 1} ({lines[i][:20]!r})"
    return Broken(start + 1, start + 1, f"no closing '# ///' line before {where}")


def scan(text: str) -> tuple[list[Block], Broken | None]:
    """Every block of ``text`` and why its first unclosed ``script`` opening failed."""
    lines = _NEWLINE.split(text)
    close = _closing_lines(lines)
    blocks: list[Block] = []
    broken: Broken | None = None
    i = 0
    while i < len(lines):
        match = _START.fullmatch(lines[i])
        end = close[i + 1] if match and i + 1 < len(lines) else None
        if match is None:
            i += 1
            continue
        if end is None or end == i + 1:
            if match.group(1) == "script" and broken is None:
                empty = Broken(i + 1, i + 1, "the block is empty")
                broken = empty if end is not None else _why_unclosed(lines, i)
            i += 1
            continue
        content = "".join(line[2:] + "\n" for line in lines[i + 1 : end])
        blocks.append(Block(match.group(1), i + 1, end + 1, content))
        i = end + 1
    return blocks, broken


def read_script_block(text: str, path: str = "<script>") -> tuple[str, int, int, str] | str:
    """The ``script`` block as a tuple, or the error message the scanner must give."""
    blocks, broken = scan(text)
    scripts = [block for block in blocks if block.type == "script"]
    if len(scripts) > 1:
        first, second = scripts[0].start_line, scripts[1].start_line
        return f"{path}:{second}: several '# /// script' blocks (opened at lines {first} and {second})"
    if scripts:
        return tuple(scripts[0])  # type: ignore[return-value]
    if broken:
        where = f"block opened at line {broken.start_line}"
        return f"{path}:{broken.line}: no '# /// script' metadata: {broken.reason} ({where})"
    return f"{path}: no '# /// script' metadata block"
