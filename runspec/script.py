"""PEP 723 inline script metadata: finding the ``# /// script`` block of a file.

Reading follows the PyPA inline-script-metadata specification (the semantics of
its reference regular expression), with three deliberate differences, all
documented in ``docs/spec.md``:

* CRLF and lone-CR line endings and a UTF-8 byte order mark read the same as LF;
* a ``# ///`` line directly followed by a new ``# /// TYPE`` line closes the
  first block, so two touching blocks are two blocks, not one merged block;
* when a ``script`` block is opened but never validly closed, the error says
  why and where instead of silently finding nothing.

Scanning is a fixed number of passes over the lines: linear in the file size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from ._toml import TOML_ERRORS, loads
from .errors import ScriptError

__all__ = [
    "Block",
    "find_blocks",
    "find_scripts",
    "has_script_block",
    "read_metadata",
    "read_script_block",
    "read_text",
]

_START = re.compile(r"# /// ([a-zA-Z0-9-]+)")
_CLOSE = "# ///"
_BOM = b"\xef\xbb\xbf"
_NEWLINE = re.compile(r"\r\n|\r|\n")
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", "__pycache__", "node_modules", "site-packages", ".runspec"}
)  # fmt: skip
_TOML_POSITION = r" \(at line (\d+), column (\d+)\)$| \(at end of document\)$"


class Block(NamedTuple):
    """One metadata block: its type, the 1-based line of its opening, and its TOML text.

    A named tuple rather than a dataclass: it is created on every start of the CLI,
    and on Python 3.11 a named tuple class costs a fifth of a frozen dataclass's.
    """

    type: str
    start_line: int
    end_line: int
    content: str


class _Broken(NamedTuple):
    """A ``script`` opening line whose block never validly closes, and why."""

    start_line: int
    line: int
    reason: str


def read_text(path: str | Path) -> str:
    """Read a file as UTF-8 text (a BOM is dropped); every failure is a one-line error."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise ScriptError("is a directory, not a script", path=path) from None
    except FileNotFoundError:
        raise ScriptError("no such file", path=path) from None
    except OSError as exc:
        raise ScriptError(f"cannot read: {exc.strerror or exc}", path=path) from None
    text = data.removeprefix(_BOM)
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(text)  # counted from the file's first byte
        message = f"not valid UTF-8 (byte 0x{data[offset]:02x} at offset {offset})"
        raise ScriptError(message, path=path) from None


def _is_comment(line: str) -> bool:
    return line == "#" or line.startswith("# ")


def _closing_lines(lines: list[str]) -> list[int | None]:
    """For each line, the index of the block's closing line if a block opened just above it.

    A block opened at line i closes at the last ``# ///`` of the unbroken comment
    run starting at i + 1, or earlier at a ``# ///`` directly followed by an
    opening line. Computed in one backward pass so that scanning stays linear.
    """
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


def _why_unclosed(lines: list[str], start: int) -> _Broken:
    """Explain why the block opened at index ``start`` has no valid closing line."""
    i = start + 1
    while i < len(lines) and _is_comment(lines[i]):
        if lines[i] != _CLOSE and lines[i].rstrip() == _CLOSE:
            reason = f"the closing line has trailing whitespace ({lines[i]!r} must be '# ///')"
            return _Broken(start + 1, i + 1, reason)
        i += 1
    if i < len(lines) and lines[i].startswith("#"):
        reason = f"line {i + 1} is neither '#' nor '# ...' ({lines[i][:20]!r})"
        return _Broken(start + 1, i + 1, reason + " before the closing '# ///'")
    at_end = i >= len(lines) - 1 and not "".join(lines[i:])
    where = "the end of the file" if at_end else f"line {i + 1} ({lines[i][:20]!r})"
    return _Broken(start + 1, start + 1, f"no closing '# ///' line before {where}")


def _scan(text: str) -> tuple[list[Block], _Broken | None]:
    """Return the blocks of ``text`` and why its first unclosed ``script`` opening failed."""
    lines = _NEWLINE.split(text)
    close = _closing_lines(lines)
    blocks: list[Block] = []
    broken: _Broken | None = None
    i = 0
    while i < len(lines):
        match = _START.fullmatch(lines[i])
        end = close[i + 1] if match and i + 1 < len(lines) else None
        if match is None:
            i += 1
            continue
        if end is None or end == i + 1:
            # Only the first failure is reported; explaining each one would rescan
            # the rest of its comment run and make scanning quadratic.
            if match.group(1) == "script" and broken is None:
                empty = _Broken(i + 1, i + 1, "the block is empty")
                broken = empty if end is not None else _why_unclosed(lines, i)
            i += 1
            continue
        body = (line[2:] for line in lines[i + 1 : end])
        content = "".join(part + "\n" for part in body)
        blocks.append(Block(match.group(1), i + 1, end + 1, content))
        i = end + 1
    return blocks, broken


def find_blocks(text: str) -> list[Block]:
    """Return every metadata block of a script's text, of any type, in file order."""
    return _scan(text)[0]


def read_script_block(text: str, path: str | Path = "<script>") -> Block:
    """Return the single ``script`` block of ``text``; a missing or repeated one is an error."""
    blocks, broken = _scan(text)
    scripts = [block for block in blocks if block.type == "script"]
    if len(scripts) > 1:
        first, second = scripts[0].start_line, scripts[1].start_line
        message = f"several '# /// script' blocks (opened at lines {first} and {second})"
        raise ScriptError(message, path=path, line=second)
    if scripts:
        return scripts[0]
    if broken:
        where = f"block opened at line {broken.start_line}"
        message = f"no '# /// script' metadata: {broken.reason} ({where})"
        raise ScriptError(message, path=path, line=broken.line)
    raise ScriptError("no '# /// script' metadata block", path=path)


def _toml_error(exc: ValueError, block: Block, path: str | Path) -> ScriptError:
    """Re-anchor a TOML error from the extracted text onto the script's own lines."""
    text = str(exc)
    match = re.search(_TOML_POSITION, text)
    if match is None or match.group(1) is None:
        line = block.end_line
        detail = re.sub(_TOML_POSITION, "", text)
    else:
        line = block.start_line + int(match.group(1))
        column = int(match.group(2)) + len("# ")  # the script's column, past the prefix
        detail = f"{text[: match.start()]} (column {column})"
    return ScriptError(f"invalid TOML: {detail}", path=path, line=line)


def read_metadata(path: str | Path) -> tuple[dict[str, object], Block]:
    """Read a script and return its ``script`` block parsed as TOML, with the block itself."""
    block = read_script_block(read_text(path), path)
    try:
        return loads(block.content), block
    except TOML_ERRORS as exc:
        raise _toml_error(exc, block, path) from None


def _read_bytes(path: str | Path) -> bytes:
    """Read a whole file; os.read skips the buffered-file set-up ``open`` pays per file."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(descriptor, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def has_script_block(path: str | Path) -> bool:
    """Cheaply tell whether a file has a line that is exactly ``# /// script``."""
    try:
        data = _read_bytes(path).removeprefix(_BOM)
    except OSError:
        return False
    opening = b"# /// script"
    found = data.find(opening)
    while found != -1:
        after = found + len(opening)
        if (found == 0 or data[found - 1] in b"\r\n") and data[after : after + 1] in b"\r\n":
            return True
        found = data.find(opening, after)
    return False


def _walk(folder: str) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            venv = os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))
            if entry.name not in _SKIP_DIRS and not venv:
                yield from _walk(entry.path)
        elif entry.name.endswith(".py") and has_script_block(entry.path):
            yield entry.path


def find_scripts(roots: Iterable[str | Path]) -> Iterator[Path]:
    """Yield the ``.py`` files under the given folders that open a ``script`` block.

    Version-control folders, virtual environments, ``node_modules`` and caches are
    skipped. A root that is a file is yielded as it is.
    """
    for root in roots:
        if os.path.isdir(root):
            yield from (Path(path) for path in _walk(os.fspath(root)))
        else:
            yield Path(root)
