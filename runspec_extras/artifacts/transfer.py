"""Listing a published source and copying its files into a registry.

A source is a local path or an fsspec URL, a single file or a folder. Local to local
copies use ``copy_file_range`` as ``cp`` does (the kernel's fast copy); copies to or from other
stores go through fsspec's batched ``put``/``get``/``copy``, which run concurrently on S3.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ArtifactError
from .store import Store, open_url

__all__ = ["Source", "copy_into"]


@dataclass(frozen=True)
class Source:
    """What is being published: its filesystem, its path there and its files with sizes."""

    fs: Any
    path: str
    url: str
    files: Mapping[str, int]
    is_file: bool
    local: bool

    @classmethod
    def open(cls, url: str) -> Source:
        """List ``url``; a missing or empty source is an :class:`ArtifactError`."""
        fs, path = open_url(url, None, "reading the source")
        local = "file" in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol)
        shown = path if local else str(fs.unstrip_protocol(path))
        if local:
            files, is_file = _list_local(path)
        else:
            files, is_file = _list_remote(fs, path)
        if is_file is None:
            raise ArtifactError(f"nothing to publish: no such file or folder {shown!r}")
        if not files:
            raise ArtifactError(f"nothing to publish: {shown!r} holds no files")
        return cls(fs, path.rstrip("/") or "/", shown, files, is_file, local)

    def absolute(self, relative: str) -> str:
        """The source path of one of its files."""
        return self.path if self.is_file else f"{self.path}/{relative}"


def _list_local(path: str) -> tuple[dict[str, int], bool | None]:
    if os.path.isfile(path):
        return {os.path.basename(path): os.path.getsize(path)}, True
    if not os.path.isdir(path):
        return {}, None
    files: dict[str, int] = {}
    for folder, _, names in os.walk(path, followlinks=True):
        for name in names:
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, path).replace(os.sep, "/")
            files[relative] = os.path.getsize(full)
    return dict(sorted(files.items())), False


def _list_remote(fs: Any, path: str) -> tuple[dict[str, int], bool | None]:
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return {}, None
    if info.get("type") != "directory":
        return {path.rsplit("/", 1)[-1]: int(info.get("size") or 0)}, True
    base = path.rstrip("/") + "/"
    found = fs.find(path, detail=True)
    files = {
        name[len(base) :]: int(entry.get("size") or 0)
        for name, entry in found.items()
        if name.startswith(base) and entry.get("type") != "directory"
    }
    return dict(sorted(files.items())), False


def copy_into(source: Source, store: Store, destination: str) -> None:
    """Copy every file of ``source`` to ``destination`` (a folder path in ``store``)."""
    names = list(source.files)
    sources = [source.absolute(name) for name in names]
    targets = [f"{destination}/{name}" for name in names]
    if source.local and store.local:
        for src, dst in zip(sources, targets, strict=True):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            _copy_local(src, dst)
    elif source.local:
        store.fs.put(sources, targets)
    elif store.local:
        for dst in targets:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
        source.fs.get(sources, targets)
    elif _same_store(source.fs, store.fs):
        store.fs.copy(sources, targets)
    else:
        for src, dst in zip(sources, targets, strict=True):
            with source.fs.open(src, "rb") as reader, store.fs.open(dst, "wb") as writer:
                shutil.copyfileobj(reader, writer, 8 << 20)


def _copy_local(source: str, target: str) -> None:
    """Copy one file as ``cp`` does: ``copy_file_range`` (the kernel copies, or the
    filesystem shares extents), else :func:`shutil.copyfile`."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        size = os.fstat(reader.fileno()).st_size
        try:
            done = 0
            while done < size:
                step = os.copy_file_range(reader.fileno(), writer.fileno(), size - done)
                if step == 0:
                    break
                done += step
            if done == size:
                return
        except (AttributeError, OSError):  # old kernel, other filesystems, Python < 3.8
            pass
    shutil.copyfile(source, target)


def _same_store(one: Any, other: Any) -> bool:
    return type(one) is type(other) and one.storage_options == other.storage_options
