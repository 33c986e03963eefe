"""Finding recipes: the walk over folders, and the index that lets it skip reading.

A *recipe* is a ``.py`` file whose ``# /// script`` block holds a ``[tool.runspec]``
table. A plain PEP 723 script (a block without that table) is not a recipe and is
passed over in silence; a file whose block cannot be read is reported.

The walk visits folders in name order without recursion (any depth), skips
version-control folders, virtual environments, ``node_modules``, caches and
``.runspec``, and only reads regular files: a named pipe, a device or a symlink
to one is never opened.

The index
---------
Listing a folder stores what each ``.py`` file under it turned out to be in
``<folder>/.runspec/discovery.index``, keyed on the file's absolute path, size,
modification and change times and inode. The next listing reads only the files
whose key changed, and trusts an entry only if the file's times are older than
the index file itself (as stamped by the same file system), so an edit in the
same clock tick as the index, or a file stamped ahead by a skewed clock, is read
again. ``.runspec/`` is created with a ``.gitignore`` holding ``*``; where it
cannot be written, listing works the same without an index.

The API a command tree builds on
--------------------------------
``recipes(root) -> tuple[RecipeEntry, ...]`` lists the recipes under ``root``,
sorted by name; each :class:`RecipeEntry` has the recipe's ``name`` (as text), its
``path`` and ``description``, the JSON form of ``runspec show --json`` (docs,
image, launch, resources, config folder, ...). With a warm index it costs a
``stat`` per ``.py`` file and no reading or TOML parsing. ``find(root, name)``
looks one recipe up by name. :func:`survey` is what ``runspec list`` prints:
the recipes of several folders and the problems of the files that failed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from stat import S_ISREG
from typing import Any, NamedTuple

from . import declaration, script
from .errors import RunspecError, SpecError, location

__all__ = ["RecipeEntry", "Survey", "find", "recipes", "scripts", "survey", "walk"]

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", "__pycache__", "node_modules", "site-packages", ".runspec"}
)  # fmt: skip
STATE_DIR = ".runspec"
INDEX_NAME = "discovery.index"
_FORMAT = 1  # bump when what an entry holds changes


class RecipeEntry(NamedTuple):
    """One recipe found by discovery: its name as text, its path, and what it declares."""

    name: str
    path: str
    description: dict[str, Any]


class Survey(NamedTuple):
    """What ``runspec list`` reports: recipes sorted by name, and the files that failed."""

    recipes: tuple[RecipeEntry, ...]
    problems: tuple[str, ...]


_Key = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


# --- the walk --------------------------------------------------------------------------------


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError:
        return []


def walk(root: str) -> Iterator[tuple[str, _Key]]:
    """Yield the regular ``.py`` files under ``root`` in name order, with their index keys.

    The path starts with ``root`` as given. Iterative, so folder depth is not limited by
    Python's recursion limit; one ``stat`` per file (it follows a symlink: regular files
    only), no file is opened. A folder holding a ``pyvenv.cfg`` (a virtual environment)
    is seen in its own listing, so it costs no ``stat`` either.
    """
    stack: list[Iterator[os.DirEntry[str]]] = [iter(_entries(root))]
    while stack:
        for entry in stack[-1]:
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS:
                    continue
                inside = _entries(entry.path)
                if not any(child.name == "pyvenv.cfg" for child in inside):
                    stack.append(iter(inside))
                    break  # into the folder; this one's iterator resumes after it
            elif entry.name.endswith(".py"):
                try:
                    info = entry.stat()
                except OSError:
                    continue  # a broken or looping symlink, or a file gone meanwhile
                if S_ISREG(info.st_mode):
                    yield entry.path, (info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                                       info.st_ino)  # fmt: skip
        else:
            stack.pop()


def scripts(paths: Iterable[str]) -> Iterator[str]:
    """Yield the files under ``paths`` that open a ``# /// script`` block (broken or not).

    A path that is a file is yielded as it is, whatever it holds.
    """
    for path in paths:
        if not os.path.isdir(path):
            yield path
            continue
        for candidate, _ in walk(path):
            if _opens_script(candidate):
                yield candidate


def _opens_script(path: str) -> bool:
    if not script.mentions_script(path):
        return False
    try:
        return script.scan_file(path) is not None
    except RunspecError:
        return True  # opened but broken: still a script to report on


# --- what one file is ---------------------------------------------------------------------

# What the index keeps for a file: None (not a recipe), ("recipe", description) or
# ("problem", (message, line, key)) for a file whose block could not be read.
_Result = tuple[str, Any] | None


def _examine(path: str) -> _Result:
    """Read one file: is it a recipe, and what does it declare (or why can it not be read)."""
    if not script.mentions_script(path):
        return None
    try:
        block = script.scan_file(path)
        if block is None:
            return None
        metadata = script.parse_block(block, path)
        if not declaration.has_runspec_table(metadata):
            return None  # a plain PEP 723 script, not a recipe
        try:
            return ("recipe", declaration.describe(metadata, path))
        except SpecError as exc:
            raise declaration.located(exc, block, path) from None
    except RunspecError as exc:
        return ("problem", (exc.message, exc.line, exc.key))


# --- the index -------------------------------------------------------------------------------


class _Index:
    """The entries of one folder's index file, and which of them can be trusted."""

    def __init__(self, folder: str) -> None:
        self.file = os.path.join(folder, STATE_DIR, INDEX_NAME)
        self.entries: dict[str, tuple[_Key, _Result]] = {}
        self.written_ns = 0  # the index file's modification time
        self.changed = False
        self._load()

    def _load(self) -> None:
        import marshal

        try:
            with open(self.file, "rb") as stream:
                self.written_ns = os.fstat(stream.fileno()).st_mtime_ns
                data = marshal.loads(stream.read())  # load() would read object by object
        except (OSError, EOFError, ValueError, TypeError):
            return
        if isinstance(data, dict) and data.get("format") == (_FORMAT, sys.version_info[:2]):
            self.entries = data.get("entries", {})

    def result(self, path: str, key: _Key) -> tuple[bool, _Result]:
        """The stored result for ``path`` if its key matches and it predates the index."""
        stored = self.entries.get(path)
        if stored is None or stored[0] != key or key[1] >= self.written_ns:
            return False, None
        if key[2] >= self.written_ns:  # changed (renamed, chmod) in the index's clock tick
            return False, None
        return True, stored[1]

    def store(self, path: str, key: _Key, result: _Result) -> None:
        self.entries[path] = (key, result)
        self.changed = True

    def keep_only(self, root: str, seen: set[str]) -> None:
        """Forget the files under ``root`` that the walk did not see (deleted or renamed)."""
        prefix = os.path.join(root, "")
        gone = [path for path in self.entries if path.startswith(prefix) and path not in seen]
        for path in gone:
            del self.entries[path]
        self.changed = self.changed or bool(gone)

    def save(self) -> None:
        """Write the index if anything changed; where that is impossible, do without."""
        if not self.changed:
            return
        import marshal

        data = {"format": (_FORMAT, sys.version_info[:2]), "entries": self.entries}
        temp = f"{self.file}.{os.getpid()}.tmp"
        try:
            _state_dir(os.path.dirname(self.file))
            with open(temp, "wb") as stream:
                marshal.dump(data, stream)
            os.replace(temp, self.file)
        except OSError:
            try:
                os.unlink(temp)
            except OSError:
                pass


def _state_dir(folder: str) -> None:
    """Create ``.runspec/`` with a ``.gitignore`` of ``*``, so that git never sees it."""
    if os.path.isdir(folder):
        return
    os.mkdir(folder)
    with open(os.path.join(folder, ".gitignore"), "w", encoding="utf-8") as stream:
        stream.write("*\n")


# --- listing -------------------------------------------------------------------------------


def _survey_root(root: str, found: list[RecipeEntry], problems: list[str]) -> None:
    absolute = os.path.abspath(root)
    index = _Index(absolute)
    seen: set[str] = set()
    # the walk's paths start with root: the index's with the absolute root
    cut, prefix = len(os.path.join(root, "")), os.path.join(absolute, "")
    for shown, key in walk(root):
        path = prefix + shown[cut:]
        seen.add(path)
        known, result = index.result(path, key)
        if not known:
            result = _examine(shown)
            index.store(path, key, result)
        if result is not None:
            _report(shown, result, found, problems)
    index.keep_only(absolute, seen)
    index.save()


def _report(
    shown: str, result: tuple[str, Any], found: list[RecipeEntry], problems: list[str]
) -> None:
    kind, value = result
    if kind == "recipe":
        found.append(RecipeEntry(str(value["name"]), value["script_path"], value))
    else:
        message, line, key = value
        problems.append(location(shown, line, key) + message)


def _single_file(path: str, found: list[RecipeEntry], problems: list[str]) -> None:
    """A file named on the command line is read as a recipe, whatever it holds."""
    try:
        described = declaration.read(path)
    except RunspecError as exc:
        problems.append(str(exc))
        return
    found.append(RecipeEntry(str(described["name"]), described["script_path"], described))


def survey(roots: Sequence[str]) -> Survey:
    """The recipes under ``roots`` (folders, or files read as recipes), sorted by name."""
    found: list[RecipeEntry] = []
    problems: list[str] = []
    for root in roots:
        if os.path.isdir(root):
            _survey_root(root, found, problems)
        else:
            _single_file(root, found, problems)
    found.sort(key=lambda entry: (entry.name, entry.path))
    return Survey(tuple(found), tuple(problems))


def recipes(root: str | os.PathLike[str]) -> tuple[RecipeEntry, ...]:
    """Every recipe under ``root``, sorted by name; unreadable files are left out."""
    return survey([os.fspath(root)]).recipes


def find(root: str | os.PathLike[str], name: str) -> RecipeEntry | None:
    """The recipe named ``name`` under ``root`` (the first by path if several), or None."""
    return next((entry for entry in recipes(root) if entry.name == name), None)

