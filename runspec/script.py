"""PEP 723 inline script metadata: finding the ``# /// script`` block of a file.

Reading follows the PyPA inline-script-metadata specification (the semantics of
its reference regular expression), with three deliberate differences, all
documented in ``docs/spec.md``:

* CRLF and lone-CR line endings and a UTF-8 byte order mark read the same as LF;
* a ``# ///`` line directly followed by a new ``# /// TYPE`` line closes the
  first block, so two touching blocks are two blocks, not one merged block;
* when a ``script`` block is opened but never validly closed, the error says
  why and where instead of silently finding nothing.

A file is read as a stream of pieces, never whole. The next ``# /// TYPE``
opening line is found by a substring search; only the comment lines that follow
an opening are looked at one by one, and a block's text is read back from the
file once its closing line is known. Scanning is linear in the file size and its
memory is one piece plus the block itself. Only regular files are read: a named
pipe, a device or a socket is refused before a byte is read from it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from typing import NamedTuple

from ._toml import TOML_ERRORS, loads
from .errors import ScriptError

__all__ = [
    "Block",
    "find_blocks",
    "mentions_script",
    "parse_block",
    "read_metadata",
    "read_script_block",
    "read_text",
    "scan_file",
]

_OPENING = re.compile(rb"# /// ([a-zA-Z0-9-]+)")
_CANDIDATE = b"# /// "
_CLOSE = b"# ///"
_BOM = b"\xef\xbb\xbf"
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_LINE_END = re.compile(rb"[\r\n]")
_PIECE = 1 << 18  # bytes read at a time
_LONG = 1 << 12  # a line is only classified and quoted: longer lines keep this much
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


class _Span(NamedTuple):
    """A block found by the scan: its text is the bytes ``begin:end`` of the source."""

    type: str
    start_line: int
    end_line: int
    begin: int
    end: int


# --- reading files -----------------------------------------------------------------------

_KINDS = {
    stat.S_IFDIR: "is a directory",
    stat.S_IFIFO: "is a named pipe (FIFO)",
    stat.S_IFCHR: "is a character device",
    stat.S_IFBLK: "is a block device",
    stat.S_IFSOCK: "is a socket",
}


def _open(path: str | os.PathLike[str]) -> int:
    """Open a regular file for reading; anything else is a one-line error.

    ``O_NONBLOCK`` keeps opening a named pipe from waiting for a writer; the file's
    type is then checked on the open descriptor, so nothing can swap it in between.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ScriptError("no such file", path=path) from None
    except OSError as exc:
        raise ScriptError(f"cannot read: {exc.strerror or exc}", path=path) from None
    kind = stat.S_IFMT(os.fstat(descriptor).st_mode)
    if kind != stat.S_IFREG:
        os.close(descriptor)
        message = f"{_KINDS.get(kind, 'is not a regular file')}, not a script"
        raise ScriptError(message, path=path) from None
    return descriptor


def _read(descriptor: int, size: int, path: object, offset: int | None = None) -> bytes:
    try:
        if offset is None:
            return os.read(descriptor, size)
        return os.pread(descriptor, size, offset)
    except OSError as exc:
        raise ScriptError(f"cannot read: {exc.strerror or exc}", path=path) from None


def _not_utf8(data: bytes, error: UnicodeDecodeError, base: int, path: object) -> ScriptError:
    offset = base + error.start
    byte = data[error.start]
    return ScriptError(f"not valid UTF-8 (byte 0x{byte:02x} at offset {offset})", path=path)


def _pieces(descriptor: int, path: object) -> Iterator[tuple[int, bytes]]:
    """The file's bytes in pieces, each with its offset, checked to be UTF-8 as they come.

    A byte order mark at the start is dropped (the offsets still count it).
    """
    offset, held = 0, b""  # held: the start of a character cut by the piece's end
    while piece := _read(descriptor, _PIECE, path):
        if offset == 0 and piece.startswith(_BOM):
            offset, piece = len(_BOM), piece[len(_BOM) :]
        checked = held + piece
        held = b""
        if not checked.isascii():
            try:
                checked.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.end < len(checked) or exc.reason != "unexpected end of data":
                    base = offset - (len(checked) - len(piece))
                    raise _not_utf8(checked, exc, base, path) from None
                held = checked[exc.start :]
        yield offset, piece
        offset += len(piece)
    if held:
        raise _not_utf8(held, UnicodeDecodeError("utf-8", held, 0, 1, ""), offset - len(held), path)


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a file as UTF-8 text (a BOM is dropped); every failure is a one-line error."""
    descriptor = _open(path)
    try:
        return "".join(piece.decode("utf-8") for _, piece in _pieces(descriptor, path))
    finally:
        os.close(descriptor)


# --- the lines of a stream ------------------------------------------------------------------


class _Lines:
    """The lines of a byte stream that arrives in pieces.

    :meth:`skip_to_candidate` jumps to the next line starting ``# /// `` with a
    substring search; :meth:`read` returns one line at a time. A line is returned
    without its ending, cut to ``_LONG`` bytes (the scan only classifies lines and
    quotes their start; block text is read back from the source). Line endings are
    counted only when a line number is asked for, or before the text holding them is
    dropped, so the part of a file after its last block is searched and never counted.
    """

    def __init__(self, pieces: Iterator[tuple[int, bytes]]) -> None:
        self._pieces = pieces
        self._buf = b""
        self._base = 0  # the source offset of _buf[0]
        self._pos = 0  # start of the next line in _buf
        self._counted, self._number = 0, 1  # the line number at _buf[_counted]
        self._mid_line = False  # _buf[0] continues a long line whose head was dropped
        self._eof = False
        self._pending: tuple[bytes, int, int] | None = None  # pushed back: line, number, offset

    @property
    def number(self) -> int:
        """The number of the next line."""
        if self._pending is not None:
            return self._pending[1]
        if self._counted < self._pos:
            self._number += self._endings(self._counted, self._pos)
            self._counted = self._pos
        return self._number

    @property
    def offset(self) -> int:
        """The source offset of the next line."""
        return self._pending[2] if self._pending is not None else self._base + self._pos

    def _more(self) -> bool:
        """Append the next piece to the buffer, dropping what was read; False at the end."""
        following = next(self._pieces, None)
        if following is None:
            self._eof = True
            return False
        if self._counted < self._pos:  # count what is dropped
            self._number += self._endings(self._counted, self._pos)
        offset, piece = following
        rest = self._buf[self._pos :]
        self._buf, self._base = rest + piece, offset - len(rest)
        self._pos = self._counted = 0
        return True

    def _limit(self) -> int:
        """How far the buffer can be read: a final CR may be the first half of a CRLF."""
        end = len(self._buf)
        return end - 1 if not self._eof and self._buf.endswith(b"\r") else end

    def _endings(self, start: int, end: int) -> int:
        """The number of line endings in ``_buf[start:end]``: LF, CRLF and lone CR."""
        buf = self._buf
        newlines = buf.count(b"\n", start, end)
        if buf.find(b"\r", start, end) == -1:  # the usual case: one pass more is saved
            return newlines
        return newlines + buf.count(b"\r", start, end) - buf.count(b"\r\n", start, end)

    def _find_candidate(self, limit: int) -> int:
        """The index of the next line in the buffer starting ``# /// ``, or -1."""
        buf, found = self._buf, self._buf.find(_CLOSE, self._pos, limit)
        while found != -1:  # '# ///' ends in a rare byte: the search skips ahead well
            if buf.startswith(_CANDIDATE, found) and self._line_start(found):
                return found
            found = buf.find(_CLOSE, found + 1, limit)
        return -1

    def skip_to_candidate(self) -> bool:
        """Move to the next line that starts with ``# /// ``; False if there is none."""
        if self._pending is not None:
            if self._pending[0].startswith(_CANDIDATE):
                return True
            self._pending = None
        while True:
            limit = self._limit()
            found = self._find_candidate(limit)
            if found != -1:
                self._pos, self._mid_line = found, False
                return True
            buf = self._buf
            cut = max(buf.rfind(b"\n", self._pos, limit), buf.rfind(b"\r", self._pos, limit))
            if cut != -1:
                self._pos, self._mid_line = cut + 1, False
            if limit - self._pos > _LONG:  # a long line that is no candidate: drop its head
                self._pos, self._mid_line = limit, True
            if not self._more():
                self._pos = len(self._buf)
                return False

    def _line_start(self, index: int) -> bool:
        if index == self._pos:
            return not (self._mid_line and index == 0)
        return self._buf[index - 1] in b"\r\n"

    def read(self) -> bytes | None:
        """Return the next line without its ending, or None at the end of the stream."""
        if self._pending is not None:
            line = self._pending[0]
            self._pending = None
            return line
        head = b""
        while True:
            limit = self._limit()
            found = _LINE_END.search(self._buf, self._pos, limit)
            if found is not None:
                end = found.start()
                line = head + self._buf[self._pos : min(end, self._pos + _LONG)]
                after = end + (2 if self._buf.startswith(b"\r\n", end) else 1)
                break
            if self._eof:
                if self._pos == len(self._buf) and not head:
                    return None
                line = head + self._buf[self._pos : self._pos + _LONG]
                after = len(self._buf)
                break
            head = (head + self._buf[self._pos : limit])[:_LONG]
            self._pos = limit
            self._more()
        self._pos, self._mid_line = after, False
        return line[:_LONG]

    def push_back(self, line: bytes, number: int, offset: int) -> None:
        """Make ``line`` (numbered ``number``, at ``offset``) the next one :meth:`read` returns."""
        self._pending = (line, number, offset)


# --- scanning ---------------------------------------------------------------------------------


def _is_comment(line: bytes) -> bool:
    return line == b"#" or line.startswith(b"# ")


def _text(line: bytes) -> str:
    """A line as text; a line cut short may end inside a character, which is left out.

    ``surrogatepass``: text given as a string may hold lone surrogates (files cannot:
    their bytes are checked to be UTF-8 as they are read).
    """
    try:
        return line.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        return line[: exc.start].decode("utf-8", "surrogatepass")


def _quote(line: bytes) -> str:
    """The first 20 characters of a line, quoted for a message."""
    return repr(_text(line[:80])[:20])


class _Line(NamedTuple):
    number: int
    text: bytes


class _Run(NamedTuple):
    """What follows an opening line: the comment run after it, up to its closing."""

    close: int | None  # the closing line's number, or None when the block never closes
    end: int  # the closing line's source offset (where the block's text ends)
    later_script: int | None  # a 'script' opening after the last '# ///', which cannot close
    later_spaces: _Line | None  # the first '# ///' with trailing whitespace after that opening
    spaces: _Line | None  # the first '# ///' with trailing whitespace after this opening
    stop: _Line | None  # the non-comment line that ended the run (None: the end of the text)


def _has_trailing_space(line: bytes) -> bool:
    return line != _CLOSE and line.startswith(_CLOSE) and _text(line).rstrip() == "# ///"


def _follow(lines: _Lines) -> _Run:
    """Read the comment run after an opening line until its closing line is known.

    The block closes at the last ``# ///`` of the run, or earlier at a ``# ///``
    directly followed by another opening line (then that line is pushed back).
    """
    close = end = 0
    found = False
    spaces = later_script = later_spaces = None
    while True:
        at, number = lines.offset, lines.number
        line = lines.read()
        if line is None or not _is_comment(line):
            stop = None if line is None else _Line(number, line)
            break
        if line == _CLOSE:
            ahead_at, ahead_number = lines.offset, lines.number
            ahead = lines.read()
            if ahead is not None:
                lines.push_back(ahead, ahead_number, ahead_at)
            close, end, found, later_script = number, at, True, None
            if ahead is not None and _OPENING.fullmatch(ahead):
                return _Run(close, end, None, None, spaces, None)
        elif _has_trailing_space(line):
            spaces = spaces or _Line(number, line)
            if later_script is not None:
                later_spaces = later_spaces or _Line(number, line)
        elif later_script is None and line == b"# /// script":
            later_script, later_spaces = number, None
    return _Run(close if found else None, end, later_script, later_spaces, spaces, stop)


def _why_unclosed(start: int, spaces: _Line | None, stop: _Line | None) -> _Broken:
    """Explain why the ``script`` block opened at line ``start`` has no closing line."""
    if spaces is not None:
        quoted = repr(_text(spaces.text))
        reason = f"the closing line has trailing whitespace ({quoted} must be '# ///')"
        return _Broken(start, spaces.number, reason)
    if stop is None:
        return _Broken(start, start, "no closing '# ///' line before the end of the file")
    if stop.text.startswith(b"#"):
        reason = f"line {stop.number} is neither '#' nor '# ...' ({_quote(stop.text)})"
        return _Broken(start, stop.number, reason + " before the closing '# ///'")
    reason = f"no closing '# ///' line before line {stop.number} ({_quote(stop.text)})"
    return _Broken(start, start, reason)


def _scan(lines: _Lines, keep: str | None = None) -> tuple[list[_Span], _Broken | None]:
    """The blocks of the stream, and why its first unclosed ``script`` opening failed.

    With ``keep``, only the first two blocks of that type are kept (enough to tell
    one from several), however many the stream holds.
    """
    spans: list[_Span] = []
    broken: _Broken | None = None
    while lines.skip_to_candidate():
        start = lines.number
        match = _OPENING.fullmatch(lines.read() or b"")
        if match is None:
            continue
        kind, begin = match.group(1).decode("ascii"), lines.offset
        run = _follow(lines)
        if run.close is not None and run.close > start + 1:
            if keep is None or (kind == keep and len(spans) < 2):
                spans.append(_Span(kind, start, run.close, begin, run.end))
        elif kind == "script" and broken is None:
            empty = _Broken(start, start, "the block is empty")
            broken = empty if run.close is not None else _why_unclosed(start, run.spaces, run.stop)
        if run.later_script is not None and broken is None:
            broken = _why_unclosed(run.later_script, run.later_spaces, run.stop)
    return spans, broken


def _content(data: bytes) -> str:
    """A block's TOML text from its comment lines' bytes: each line without ``# ``."""
    lines = _NEWLINE.split(data)[:-1]  # the text ends where the closing line starts
    return _text(b"".join(line[2:] + b"\n" for line in lines))


def _script_span(spans: list[_Span], broken: _Broken | None, path: object) -> _Span | None:
    """The single ``script`` block; several are an error, none is None or why it is broken."""
    scripts = [span for span in spans if span.type == "script"]
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
    return None


# --- the API ----------------------------------------------------------------------------------


def _in_memory(text: str) -> tuple[bytes, _Lines]:
    data = text.encode("utf-8", "surrogatepass")
    return data, _Lines(iter([(0, data)]))


def find_blocks(text: str) -> list[Block]:
    """Return every metadata block of a script's text, of any type, in file order."""
    data, lines = _in_memory(text)
    spans, _ = _scan(lines)
    return [Block(s.type, s.start_line, s.end_line, _content(data[s.begin : s.end])) for s in spans]


def read_script_block(text: str, path: str | os.PathLike[str] = "<script>") -> Block:
    """Return the single ``script`` block of ``text``; a missing or repeated one is an error."""
    data, lines = _in_memory(text)
    span = _script_span(*_scan(lines, keep="script"), path)
    if span is None:
        raise ScriptError("no '# /// script' metadata block", path=path)
    return Block(span.type, span.start_line, span.end_line, _content(data[span.begin : span.end]))


def _toml_error(exc: ValueError, block: Block, path: object) -> ScriptError:
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


def scan_file(path: str | os.PathLike[str]) -> Block | None:
    """Return the ``script`` block of a file, or None if the file opens none at all.

    The file is read as a stream (see the module's description); a block that is
    opened but broken, or several blocks, are errors, as is a file that is not a
    regular file or not UTF-8.
    """
    descriptor = _open(path)
    try:
        span = _script_span(*_scan(_Lines(_pieces(descriptor, path)), keep="script"), path)
        if span is None:
            return None
        data = _read(descriptor, span.end - span.begin, path, offset=span.begin)
    finally:
        os.close(descriptor)
    return Block(span.type, span.start_line, span.end_line, _content(data))


def mentions_script(path: str | os.PathLike[str]) -> bool:
    """A quick test before :func:`scan_file`: whether ``# /// script`` occurs in the file.

    False also for a file that is not a regular file or cannot be read. Nothing is
    decoded or split into lines; a large file is searched piece by piece.
    """
    needle = b"# /// script"
    try:
        descriptor = _open(path)
    except ScriptError:
        return False
    try:
        tail = b""
        while piece := os.read(descriptor, _PIECE):
            if needle in tail + piece[: len(needle)] or needle in piece:
                return True
            tail = piece[-len(needle) :]
        return False
    except OSError:
        return False
    finally:
        os.close(descriptor)


def parse_block(block: Block, path: object) -> dict[str, object]:
    """Parse a block's TOML; an error names the script's own line and column."""
    try:
        return loads(block.content)
    except TOML_ERRORS as exc:
        raise _toml_error(exc, block, path) from None


def read_metadata(path: str | os.PathLike[str]) -> tuple[dict[str, object], Block]:
    """Read a script and return its ``script`` block parsed as TOML, with the block itself."""
    block = scan_file(path)
    if block is None:
        raise ScriptError("no '# /// script' metadata block", path=path)
    return parse_block(block, path), block
