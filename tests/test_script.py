"""Reading PEP 723 ``# /// script`` blocks (runspec.script).

The PyPA inline-script-metadata specification defines a block by a regular
expression; ``pypa_read`` below implements that definition literally and serves
as the oracle for a differential property test. Where runspec deliberately
differs (CRLF / lone CR / BOM, touching blocks, explanatory errors), the tables
say so in their ids.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runspec
from runspec import script
from runspec.script import find_blocks, read_metadata, read_script_block, read_text
from tests import script_reference
from tests.support import REPO

# --- the specification's definition, used as an oracle --------------------------------

PYPA_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def pypa_read(text: str) -> str | None:
    """The ``script`` block's TOML text as the specification reads it; ValueError if several."""
    found = [m for m in PYPA_BLOCK.finditer(text) if m.group("type") == "script"]
    if len(found) > 1:
        raise ValueError("several script blocks")
    if not found:
        return None
    lines = found[0].group("content").split("\n")[:-1]
    return "".join(line[2:] + "\n" if line.startswith("# ") else line[1:] + "\n" for line in lines)


# --- reading a block ------------------------------------------------------------------

READS = [
    ("hash-space-prefix", "# /// script\n# a = 1\n# ///\n", {"a": 1}),
    ("bare-hash-line", "# /// script\n# a = 1\n#\n# b = 2\n# ///\n", {"a": 1, "b": 2}),
    ("hash-space-only-line", "# /// script\n# a = 1\n# \n# ///\n", {"a": 1}),
    ("indentation-kept", '# /// script\n# s = """\n#   x\n# """\n# ///\n', {"s": "  x\n"}),
    ("code-around", "import os\n\n# /// script\n# a = 1\n# ///\nprint(1)\n", {"a": 1}),
    ("no-final-newline", "# /// script\n# a = 1\n# ///", {"a": 1}),
    ("empty-toml", "# /// script\n#\n# ///\n", {}),
    ("comment-only-toml", "# /// script\n# # a note\n# ///\n", {}),
    ("docstring-after", '# /// script\n# a = 1\n# ///\n"""Doc."""\n', {"a": 1}),
    (
        "other-block-ignored",
        "# /// pyproject\n# not = toml = at all\n# ///\n\n# /// script\n# a = 1\n# ///\n",
        {"a": 1},
    ),
    (
        "script-line-inside-other-block-not-seen",
        "# /// other\n# x\n# /// script\n# b = 2\n# ///\n\n# /// script\n# c = 3\n# ///\n",
        {"c": 3},
    ),
    (
        "closes-at-last-close-line-of-comment-run",
        '# /// script\n# a = """\n# ///\n# """\n# ///\n',
        {"a": "///\n"},
    ),
    ("close-line-after-code-not-used", "# /// script\n# a = 1\n# ///\nx = 1\n# ///\n", {"a": 1}),
    (
        "first-opening-unclosed-second-valid",
        "# /// script\n# a = 1\nx = 1\n# /// script\n# b = 2\n# ///\n",
        {"b": 2},
    ),
    (
        "pep723-keys",
        '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["numpy"]\n# ///\n',
        {"requires-python": ">=3.10", "dependencies": ["numpy"]},
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in READS], ids=[c[0] for c in READS])
def test_read_metadata(tmp_path: Path, text: str, expected: dict[str, Any]) -> None:
    path = tmp_path / "recipe.py"
    path.write_bytes(text.encode())
    assert read_metadata(path)[0] == expected


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in READS], ids=[c[0] for c in READS])
def test_reads_what_the_specification_reads(text: str, expected: dict[str, Any]) -> None:
    assert read_script_block(text).content == pypa_read(text)


def test_block_positions() -> None:
    text = "x = 1\n# /// script\n# a = 1\n# ///\n"
    assert read_script_block(text) == script.Block("script", 2, 4, "a = 1\n")


def test_find_blocks_returns_every_type_in_order() -> None:
    text = "# /// a\n# x\n# ///\n\n# /// script\n# y\n# ///\n\n# /// b-2\n#\n# ///\n"
    assert [(b.type, b.start_line, b.end_line) for b in find_blocks(text)] == [
        ("a", 1, 3),
        ("script", 5, 7),
        ("b-2", 9, 11),
    ]


# --- line endings and byte order mark: deliberately read the same as LF ---------------


def _mixed_endings(text: str) -> str:
    """Terminate the lines of ``text`` with CRLF, CR and LF in turn."""
    lines = text.split("\n")
    ends = ["\r\n", "\r", "\n"] * len(lines)
    return "".join(line + end for line, end in zip(lines[:-1], ends, strict=False)) + lines[-1]


ENDINGS = [
    ("crlf", lambda text: text.replace("\n", "\r\n").encode()),
    ("lone-cr", lambda text: text.replace("\n", "\r").encode()),
    ("bom", lambda text: b"\xef\xbb\xbf" + text.encode()),
    ("bom-crlf", lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()),
    ("mixed", lambda text: _mixed_endings(text).encode()),
]
SAMPLE = "import os\n# /// script\n# a = 1\n# [t]\n# b = 'x'\n# ///\nprint(os.name)\n"


@pytest.mark.parametrize("encode", [e[1] for e in ENDINGS], ids=[e[0] for e in ENDINGS])
def test_line_endings_and_bom_read_like_lf(tmp_path: Path, encode: Callable[[str], bytes]) -> None:
    lf, other = tmp_path / "lf.py", tmp_path / "other.py"
    lf.write_bytes(SAMPLE.encode())
    other.write_bytes(encode(SAMPLE))
    assert read_metadata(other) == read_metadata(lf)
    assert read_metadata(other)[0] == {"a": 1, "t": {"b": "x"}}


@pytest.mark.parametrize("encode", [e[1] for e in ENDINGS], ids=[e[0] for e in ENDINGS])
def test_line_endings_give_the_same_errors(tmp_path: Path, encode: Callable[[str], bytes]) -> None:
    text = "# /// script\n# a = 1\n# ///\n\n# /// script\n# a = \n# ///\n"
    path = tmp_path / "r.py"
    path.write_bytes(encode(text))
    with pytest.raises(runspec.ScriptError) as raised:
        read_metadata(path)
    assert str(raised.value) == (
        f"{path}:5: several '# /// script' blocks (opened at lines 1 and 5)"
    )


# --- errors ---------------------------------------------------------------------------

NO_META = "no '# /// script' metadata"
ERRORS = [
    ("empty-file", "", f"t.py: {NO_META} block"),
    ("no-block", "x = 1\n", f"t.py: {NO_META} block"),
    ("only-other-blocks", "# /// pyproject\n# a = 1\n# ///\n", f"t.py: {NO_META} block"),
    ("indented-opening", " # /// script\n# a = 1\n# ///\n", f"t.py: {NO_META} block"),
    ("opening-trailing-space", "# /// script \n# a = 1\n# ///\n", f"t.py: {NO_META} block"),
    ("type-is-case-sensitive", "# /// Script\n# a = 1\n# ///\n", f"t.py: {NO_META} block"),
    (
        "two-blocks",
        "# /// script\n# a = 1\n# ///\nx = 1\n# /// script\n# b = 2\n# ///\n",
        "t.py:5: several '# /// script' blocks (opened at lines 1 and 5)",
    ),
    (
        "two-touching-blocks",
        "# /// script\n# a = 1\n# ///\n# /// script\n# b = 2\n# ///\n",
        "t.py:4: several '# /// script' blocks (opened at lines 1 and 4)",
    ),
    (
        "three-blocks-names-first-two",
        "# /// script\n#\n# ///\n\n# /// script\n#\n# ///\n\n# /// script\n#\n# ///\n",
        "t.py:5: several '# /// script' blocks (opened at lines 1 and 5)",
    ),
    (
        "unclosed-at-end-of-file",
        "x = 1\n# /// script\n# a = 1\n",
        f"t.py:2: {NO_META}: no closing '# ///' line before the end of the file"
        " (block opened at line 2)",
    ),
    (
        "unclosed-before-code",
        "# /// script\n# a = 1\nimport os\n",
        f"t.py:1: {NO_META}: no closing '# ///' line before line 3 ('import os')"
        " (block opened at line 1)",
    ),
    (
        "unclosed-before-blank-line",
        "# /// script\n# a = 1\n\n# ///\n",
        f"t.py:1: {NO_META}: no closing '# ///' line before line 3 ('') (block opened at line 1)",
    ),
    (
        "closing-line-trailing-spaces",
        "# /// script\n# a = 1\n# ///  \n",
        f"t.py:3: {NO_META}: the closing line has trailing whitespace"
        " ('# ///  ' must be '# ///') (block opened at line 1)",
    ),
    (
        "hash-x-line-inside",
        "# /// script\n# a = 1\n#x\n# ///\n",
        f"t.py:3: {NO_META}: line 3 is neither '#' nor '# ...' ('#x')"
        " before the closing '# ///' (block opened at line 1)",
    ),
    (
        "hash-tab-line-inside",
        "# /// script\n#\ta = 1\n# ///\n",
        f"t.py:2: {NO_META}: line 2 is neither '#' nor '# ...' ('#\\ta = 1')"
        " before the closing '# ///' (block opened at line 1)",
    ),
    (
        "empty-block",
        "# /// script\n# ///\n",
        f"t.py:1: {NO_META}: the block is empty (block opened at line 1)",
    ),
    (
        "only-first-failure-explained",
        "# /// script\n# a = 1\n#x\n# /// script\n# b = 1\n",
        f"t.py:3: {NO_META}: line 3 is neither '#' nor '# ...' ('#x')"
        " before the closing '# ///' (block opened at line 1)",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_block_errors(text: str, message: str) -> None:
    with pytest.raises(runspec.ScriptError) as raised:
        read_script_block(text, "t.py")
    assert str(raised.value) == message


def test_touching_blocks_differ_from_the_reference_regex_on_purpose() -> None:
    text = "# /// script\n# a = 1\n# ///\n# /// script\n# b = 2\n# ///\n"
    assert pypa_read(text) == "a = 1\n///\n/// script\nb = 2\n"  # one merged block
    assert [block.start_line for block in find_blocks(text)] == [1, 4]


TOML_ERRORS = [
    (
        "invalid-value-at-script-line",
        "x = 1\n\n# /// script\n# a = 1\n# b =\n# ///\n",
        "t.py:5: invalid TOML: Invalid value (column 6)",
    ),
    (
        "duplicate-key",
        "# /// script\n# a = 1\n# a = 2\n# ///\n",
        "t.py:3: invalid TOML: Cannot overwrite a value (column 8)",
    ),
    (
        "bad-table-header",
        "#!/usr/bin/env python\n# /// script\n# [tool\n# ///\n",
        "t.py:3: invalid TOML: Expected ']' at the end of a table declaration (column 8)",
    ),
    (
        "end-of-document-points-at-closing-line",
        '# /// script\n# a = """x\n# ///\n',
        "t.py:3: invalid TOML: Unterminated string",
    ),
    (
        "crlf-same-line",
        "x = 1\r\n\r\n# /// script\r\n# a = 1\r\n# b =\r\n# ///\r\n",
        "t.py:5: invalid TOML: Invalid value (column 6)",
    ),
    (
        "touching-blocks-in-reference-would-be-toml-error",
        "# /// script\n# a = 1\n# ///\n# /// script\n# b = 2\n# ///\n",
        "t.py:4: several '# /// script' blocks (opened at lines 1 and 4)",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in TOML_ERRORS], ids=[c[0] for c in TOML_ERRORS]
)
def test_toml_errors_name_the_scripts_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.py"
    path.write_bytes(text.encode())
    with pytest.raises(runspec.ScriptError) as raised:
        read_metadata(path)
    assert str(raised.value) == message.replace("t.py", str(path), 1)


# --- files that cannot be read --------------------------------------------------------


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.py"


def _directory(tmp_path: Path) -> Path:
    (tmp_path / "folder.py").mkdir()
    return tmp_path / "folder.py"


def _not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.py"
    path.write_bytes(b"# /// script\n# name = '\xe9t\xe9'\n# ///\n")
    return path


def _symlink_loop(tmp_path: Path) -> Path:
    # unreadable even for root, unlike chmod 000
    (tmp_path / "loop.py").symlink_to("loop.py")
    return tmp_path / "loop.py"


FILE_ERRORS = [
    ("missing", _missing, "no such file"),
    ("directory", _directory, "is a directory, not a script"),
    ("not-utf8", _not_utf8, "not valid UTF-8 (byte 0xe9 at offset 23)"),
    ("symlink-loop", _symlink_loop, "cannot read: Too many levels of symbolic links"),
]


@pytest.mark.parametrize(
    ("make", "message"), [c[1:] for c in FILE_ERRORS], ids=[c[0] for c in FILE_ERRORS]
)
@pytest.mark.parametrize("reader", [read_text, read_metadata], ids=["read_text", "read_metadata"])
def test_unreadable_files(
    tmp_path: Path, make: Callable[[Path], Path], message: str, reader: Callable[[Path], object]
) -> None:
    path = make(tmp_path)
    with pytest.raises(runspec.ScriptError) as raised:
        reader(path)
    assert str(raised.value) == f"{path}: {message}"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_bom_offset_counts_from_file_start(tmp_path: Path) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbf# \xff\n")
    with pytest.raises(runspec.ScriptError, match=r"byte 0xff at offset 5\)$"):
        read_text(path)


# --- scanning is linear ---------------------------------------------------------------

PATHOLOGICAL = {
    "openings-no-close": "# /// script\n",
    "opening-and-content-no-close": "# /// script\n# a = 1\n",
    "openings-and-trailing-space-closes": "# /// script\n# ///  \n",
    "many-blocks": "# /// script\n# a = 1\n# ///\n",
    "many-other-openings": "# /// x\n#x\n",
}


def test_pathological_input_does_not_hang() -> None:
    """200k-line inputs, each shape in a fresh interpreter that must finish in 60 s.

    The quadratic scanner this replaced needed about 25 s for 20k lines of the
    first shape, so 200k lines would need about 40 minutes.
    """
    code = textwrap.dedent(
        """
        import sys
        from runspec.script import read_script_block
        from runspec import ScriptError
        try:
            read_script_block(sys.argv[1] * (200_000 // sys.argv[1].count(chr(10))))
        except ScriptError as exc:
            print(str(exc)[:60])
        """
    )
    for name, unit in PATHOLOGICAL.items():
        done = subprocess.run(
            [sys.executable, "-c", code, unit],
            env={"PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.startswith("<script>:"), (name, done.stdout)


def _lines_executed(text: str) -> int:
    """Count the Python lines of runspec/script.py run while scanning ``text``."""
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if frame.f_code.co_filename != script.__file__:
            return None
        if event == "line":
            count += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        read_script_block(text)
    except runspec.ScriptError:
        pass
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("unit", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_work_grows_linearly(unit: str) -> None:
    """Doubling the input at most doubles the lines of scanner code executed (plus slack)."""
    small = _lines_executed(unit * 500)
    large = _lines_executed(unit * 1000)
    assert large <= 2.1 * small


# --- properties -----------------------------------------------------------------------

LINES = [
    "# /// script", "# /// pyproject", "# /// script-x", "# ///", "# ///  ", "#  ///",
    "#", "# ", "#x", "", "x = 1", " # /// script", "# a = 1", "# b = 'x'", "# [t]",
    "# c = [1,", "# 2]", '# s = """', '# """', "# a = ", "#\t", "# # note",
]  # fmt: skip
START = re.compile(r"# /// [a-zA-Z0-9-]+")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=16), st.booleans())
def test_agrees_with_the_specification(lines: list[str], final_newline: bool) -> None:
    """On LF text without touching blocks, the content read is exactly the reference's."""
    text = "\n".join(lines) + ("\n" if final_newline else "")
    touching = any(a == "# ///" and START.fullmatch(b) for a, b in itertools.pairwise(lines))
    try:
        ours: str | None = read_script_block(text).content
    except runspec.ScriptError as exc:
        ours = "several" if exc.message.startswith("several") else None
    if touching:
        return
    try:
        expected = pypa_read(text)
    except ValueError:
        expected = "several"
    assert ours == expected


TEXT = st.text(st.sampled_from("# /\\\r\n\t'\"=[]{}.,-:xa1é\x00\ufeff"), max_size=200) | st.text()
TOMLISH = st.text(st.sampled_from("ab1_-. =\"'[]{},#:\\\r\n\tTZ+é"), max_size=120)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


def _only_runspec_errors(path: Path) -> None:
    """Reading, parsing, checking and rendering ``path`` raises nothing but RunspecError."""
    from runspec.report import render_summary

    runspec.check(path)
    try:
        read_metadata(path)
        render_summary(runspec.parse(path).to_dict())
        runspec.parse(path).to_dict()
    except runspec.RunspecError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_arbitrary_text_raises_only_runspec_errors(scratch: Path, text: str) -> None:
    with contextlib.suppress(runspec.RunspecError):
        read_script_block(text)
    find_blocks(text)
    path = scratch / "text.py"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _only_runspec_errors(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_runspec_errors(scratch: Path, data: bytes) -> None:
    path = scratch / "bytes.py"
    path.write_bytes(b"# /// script\n" + data + b"\n# ///\n")
    _only_runspec_errors(path)


@settings(max_examples=400, deadline=None)
@given(TOMLISH, st.booleans())
def test_arbitrary_toml_in_a_valid_block_raises_only_runspec_errors(
    scratch: Path, toml: str, under_runspec: bool
) -> None:
    body = ("[tool.runspec]\n" if under_runspec else "") + toml
    text = "# /// script\n" + "".join(f"# {line}\n" for line in body.split("\n")) + "# ///\n"
    path = scratch / "toml.py"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _only_runspec_errors(path)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=12))
def test_crlf_cr_and_bom_never_change_the_result(scratch: Path, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    variants = [
        text.encode(),
        text.replace("\n", "\r\n").encode(),
        text.replace("\n", "\r").encode(),
        b"\xef\xbb\xbf" + text.encode(),
    ]
    path = scratch / "endings.py"

    def outcome(data: bytes) -> str:
        path.write_bytes(data)
        try:
            return repr(read_metadata(path))
        except runspec.ScriptError as exc:
            return str(exc)

    assert len({outcome(variant) for variant in variants}) == 1


# --- the streaming scanner against the previous whole-text scanner ----------------------

ENDS = st.sampled_from(["\n", "\r\n", "\r"])
SCAN_LINES = st.sampled_from([*LINES, "# /// script", "# /// script", "# ///", "#\u3000", "# ///\u3000"])


def _text_of(lines: list[str], ends: list[str], final: bool) -> str:
    text = "".join(line + end for line, end in zip(lines, ends, strict=False))
    return text if final or not lines else text[: -len(ends[len(lines) - 1])]


def _outcome(read: Callable[[], object]) -> object:
    try:
        block = read()
    except runspec.ScriptError as exc:
        return str(exc)
    return tuple(block) if isinstance(block, tuple) else block


@settings(max_examples=500, deadline=None)
@given(st.lists(SCAN_LINES, max_size=24), st.lists(ENDS, min_size=24, max_size=24), st.booleans())
def test_streaming_scan_matches_the_whole_text_scanner(
    lines: list[str], ends: list[str], final: bool
) -> None:
    """Every result and error message, touching blocks and mixed endings included."""
    text = _text_of(lines, ends, final)
    assert _outcome(lambda: read_script_block(text)) == script_reference.read_script_block(text)
    assert [tuple(b) for b in find_blocks(text)] == [tuple(b) for b in script_reference.scan(text)[0]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(SCAN_LINES | st.text(st.sampled_from("# /x\u00e9"), max_size=90), max_size=16),
    st.lists(ENDS, min_size=16, max_size=16),
    st.booleans(),
    st.integers(1, 9),
)
def test_files_read_in_small_pieces_read_the_same(
    scratch: Path, lines: list[str], ends: list[str], final: bool, piece: int
) -> None:
    """Pieces of a few bytes cut lines, CRLF pairs and characters anywhere: no difference."""
    text = _text_of(lines, ends, final)
    path = scratch / "pieces.py"
    path.write_bytes(text.encode())
    expected = script_reference.read_script_block(text, str(path))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(script, "_PIECE", piece)
        patch.setattr(script, "_LONG", 100)
        assert _outcome(lambda: script.scan_file(path)) == (
            None if expected == f"{path}: no '# /// script' metadata block" else expected
        )
