"""A snapshot of the code a job needs, named by its content.

In a git work tree the snapshot is every file ``git ls-files`` lists, tracked (with
its uncommitted changes) or untracked but not ignored; outside git it is the recipe's
folder. Each file is named by its git blob id: git's own index supplies the ids of
files that did not change since they were staged, and only the other files are read
and hashed here. The snapshot's id is a hash of the sorted (path, mode, blob id)
entries, so the same code has the same id on any machine, and a folder named after it
never needs to be sent twice. ``.runspec/`` (runspec's own records) and ``__pycache__``
folders are never part of a snapshot.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import SlurmError
from .transport import Runner, run_program

__all__ = ["Entry", "Snapshot", "blob_id", "git_head", "take", "write_tar"]

_FILE, _EXECUTABLE, _LINK, _SUBMODULE = 0o100644, 0o100755, 0o120000, 0o160000
_SKIPPED_FOLDERS = frozenset({".runspec", "__pycache__", ".git"})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file of a snapshot: its path (``/``-separated), git mode and git blob id."""

    path: str
    mode: int
    blob: str


@dataclass(frozen=True)
class Snapshot:
    """The files of ``root`` that a job runs from, and the id naming their content."""

    root: Path
    entries: tuple[Entry, ...]
    git: bool
    """Whether ``root`` is a git work tree (else: a plain folder, walked)."""
    commit: str | None = None
    """The work tree's ``HEAD`` commit, if it has one."""
    dirty: bool = False
    """Whether the files differ from ``commit`` (changed, untracked, or staged only)."""

    @functools.cached_property
    def id(self) -> str:
        """32 hex digits naming the content: paths, modes and bytes of every file."""
        digest = hashlib.sha256()
        for entry in self.entries:
            digest.update(
                f"{entry.mode:o} {entry.blob}\t{entry.path}\0".encode("utf-8", "surrogateescape")
            )
        return digest.hexdigest()[:32]

    @property
    def paths(self) -> tuple[str, ...]:
        """The files' paths relative to ``root``, sorted."""
        return tuple(entry.path for entry in self.entries)


def blob_id(path: Path) -> tuple[int, str] | None:
    """The git mode and blob id of the file (or symlink) at ``path``; None for other kinds."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        target = os.fsencode(os.readlink(path))
        return _LINK, _blob(target, len(target))
    if not stat.S_ISREG(info.st_mode):
        return None
    mode = _EXECUTABLE if info.st_mode & stat.S_IXUSR else _FILE
    with open(path, "rb") as stream:
        return mode, _blob(iter(lambda: stream.read(_CHUNK), b""), info.st_size)


def _blob(data: bytes | Iterable[bytes], size: int) -> str:
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    for chunk in [data] if isinstance(data, bytes) else data:
        digest.update(chunk)
    return digest.hexdigest()


def take(
    root: Path, *, git: bool, commit: str | None = None, runner: Runner | None = None
) -> Snapshot:
    """List and name the files of ``root``: a git work tree (``git``) or a plain folder.

    ``commit`` is the work tree's ``HEAD``; with it the snapshot also says whether the
    tree differs from that commit (``dirty``).
    """
    run = runner or run_program
    if not git:
        return Snapshot(root, tuple(sorted(_walk_entries(root), key=_path)), False)
    entries, changed = _git_entries(root, run)
    dirty = bool(changed) or (commit is not None and _staged(root, run))
    return Snapshot(root, tuple(sorted(entries, key=_path)), True, commit, dirty)


def _path(entry: Entry) -> str:
    return entry.path


def git_head(folder: Path, runner: Runner | None = None) -> tuple[Path, str | None] | None:
    """The git work tree holding ``folder`` and its ``HEAD`` commit (None before the first
    commit); None outside git. One ``git rev-parse``."""
    run = runner or run_program
    code, out, _ = run(["git", "-C", str(folder), "rev-parse", "--show-toplevel", "HEAD"])
    lines = out.strip().splitlines()
    if code == 0 and len(lines) == 2:
        return Path(lines[0]), lines[1]
    code, out, _ = run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"])
    return (Path(out.strip()), None) if code == 0 and out.strip() else None


def _staged(root: Path, runner: Runner) -> bool:
    """Whether the index holds changes not committed yet."""
    code, _, _ = runner(["git", "-C", str(root), "diff-index", "--cached", "--quiet", "HEAD", "--"])
    return code != 0


def _git_entries(root: Path, runner: Runner) -> tuple[list[Entry], set[str]]:
    """The files of the work tree, and the paths that differ from the index.

    One ``git ls-files``: the index with its blob ids, then again each path whose file
    changed (modified or deleted), then the untracked files that are not ignored (bare
    paths). Only the files that changed are read and hashed.
    """
    argv = ["git", "-C", str(root), "ls-files", "-z", "--stage", "--modified", "--others",
            "--exclude-standard"]  # fmt: skip
    code, out, err = runner(argv)
    if code != 0:
        raise SlurmError(f"git ls-files failed with exit code {code}: {err.strip()}", path=root)
    staged: dict[str, tuple[int, str]] = {}
    changed: set[str] = set()
    for line in filter(None, out.split("\0")):
        info, tab, path = line.partition("\t")
        if not tab:
            changed.add(info)  # untracked
            continue
        mode, blob, stage = info.split()
        if stage != "0" or path in staged:
            changed.add(path)  # listed again: changed in the work tree (or a conflict)
        staged[path] = (int(mode, 8), blob)
    entries = [
        Entry(path, mode, blob) for path, (mode, blob) in staged.items()
        if path not in changed and mode != _SUBMODULE and not _skipped(path)
    ]  # fmt: skip
    for path in changed:
        entry = None if _skipped(path) else _entry(root, path)
        if entry is not None:
            entries.append(entry)
    return entries, changed


def _entry(root: Path, path: str) -> Entry | None:
    try:
        found = blob_id(root / path)
    except FileNotFoundError:
        return None  # deleted in the work tree, still in the index
    except OSError as exc:
        raise SlurmError(
            f"cannot read {path} for the code snapshot: {exc.strerror}", path=root
        ) from None
    return None if found is None else Entry(path, *found)


def _skipped(path: str) -> bool:
    return any(part in _SKIPPED_FOLDERS for part in path.split("/")[:-1])


def _walk_entries(root: Path) -> Iterator[Entry]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(name for name in dirs if name not in _SKIPPED_FOLDERS)
        for name in files:
            path = Path(folder, name).relative_to(root).as_posix()
            entry = _entry(root, path)
            if entry is not None:
                yield entry
        for name in list(dirs):
            if os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)  # a link to a folder is sent as the link
                entry = _entry(root, Path(folder, name).relative_to(root).as_posix())
                if entry is not None:
                    yield entry


def write_tar(snapshot: Snapshot, stream: IO[bytes], paths: Sequence[str] | None = None) -> None:
    """Write the snapshot's files as a tar stream: read-only files, links as links.

    Files are read-only in the snapshot because every job with the same code shares it.
    """
    import tarfile

    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for path in snapshot.paths if paths is None else paths:
            info = archive.gettarinfo(str(snapshot.root / path), arcname=path)
            info.mode &= 0o555
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with open(snapshot.root / path, "rb") as source:
                    archive.addfile(info, source)
            else:
                archive.addfile(info)
