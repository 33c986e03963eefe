"""A registry's storage: an fsspec filesystem and a root folder, with the two atomic writes.

Publishing needs two primitives that fsspec does not offer in one form for every store:

* :meth:`Store.create` makes a file appear complete, only if it does not exist yet.
  On a local (or NFS, Lustre) folder the file is written into a private folder that is
  then renamed into place (``rename`` of a folder onto a missing name is atomic and
  fails when the name exists). On S3 it is a conditional ``PutObject``
  (``If-None-Match: *``), which S3 applies atomically; other stores get fsspec's
  exclusive create (``mode="create"``), with whatever guarantee the backend gives.
* :meth:`Store.replace` overwrites a small file so readers see the old or the new text
  (a local ``os.replace``, a single ``PutObject`` elsewhere).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .._optional import import_problem, importing
from .errors import ArtifactError

__all__ = ["Store", "open_url"]


def open_url(url: str, options: Mapping[str, Any] | None, purpose: str) -> tuple[Any, str]:
    """The fsspec filesystem and path of ``url``; a missing package names its extra."""
    with importing(purpose):
        from fsspec.core import url_to_fs
    try:
        fs, path = url_to_fs(url, **dict(options or {}))
    except ImportError as exc:  # fsspec wraps the missing backend's ModuleNotFoundError
        cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        raise import_problem(cause, f"{purpose} {url!r}") from exc
    except ValueError as exc:
        raise ArtifactError(f"cannot open {url!r}: {exc}") from exc
    return fs, str(path)


class Store:
    """The filesystem of a registry root and the operations the registry needs on it."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        fs, root = open_url(url, storage_options, "opening the artifact registry")
        self.fs: Any = fs
        self.root: str = root.rstrip("/") or "/"
        self.local: bool = "file" in _protocols(fs)

    def path(self, *parts: str) -> str:
        """The store path of ``parts`` under the root."""
        return "/".join([self.root.rstrip("/"), *parts])

    def url(self, path: str) -> str:
        """How a user names ``path``: a plain path for local folders, else a URL."""
        return path if self.local else str(self.fs.unstrip_protocol(path))

    def children(self, path: str) -> list[str]:
        """The names directly under folder ``path`` (none when it does not exist)."""
        if self.local:  # fsspec would stat every entry; resolving latest needs only names
            try:
                return os.listdir(path)
            except (FileNotFoundError, NotADirectoryError):
                return []
        self.fs.invalidate_cache(path)
        try:
            entries = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return [entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries]

    def exists(self, path: str) -> bool:
        """Whether ``path`` (a file or a folder) exists, asked of the store, not a cache."""
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def read_json(self, path: str) -> Any:
        """The JSON document at ``path``, or None when there is none."""
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return _decode(data, self.url(path))

    def read_many(self, paths: Iterable[str]) -> dict[str, Any]:
        """The JSON documents at ``paths`` that exist (fetched concurrently where the store
        can); a failure other than a missing file is raised."""
        wanted = list(paths)
        if not wanted:
            return {}
        found = self.fs.cat(wanted, on_error="return")
        documents = {}
        for path in wanted:
            data = found.get(path, FileNotFoundError(path))
            if isinstance(data, FileNotFoundError):
                continue  # absent, which callers ask about; any other failure is an error
            if isinstance(data, BaseException):
                raise data
            documents[path] = _decode(data, self.url(path))
        return documents

    def create(self, folder: str, filename: str, data: bytes) -> bool:
        """Make ``folder/filename`` hold ``data``, only if ``folder`` does not exist yet.

        Returns False when it exists. Readers never see a partial file.
        """
        if self.local:
            return _create_local(folder, filename, data)
        try:
            self.fs.pipe_file(f"{folder}/{filename}", data, mode="create")
        except FileExistsError:
            return False
        return True

    def replace(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` so readers see the old or the new contents."""
        if self.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temporary = f"{path}.{uuid.uuid4().hex}.tmp"
            try:
                with open(temporary, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
        else:
            self.fs.pipe_file(path, data)

    def remove_tree(self, path: str) -> None:
        """Delete the folder ``path`` and everything under it (missing is fine)."""
        if self.local:
            shutil.rmtree(path, ignore_errors=True)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _decode(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{where}: not a JSON document ({exc})") from exc


def _create_local(folder: str, filename: str, data: bytes) -> bool:
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".creating-{uuid.uuid4().hex}")
    os.mkdir(staging)
    try:
        with open(os.path.join(staging, filename), "wb") as handle:
            handle.write(data)
        try:
            os.rename(staging, folder)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return False
            raise
        return True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
