"""One published version of an artifact, as its ``manifest.json`` describes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .reference import version_label

__all__ = ["MANIFEST", "Input", "Version"]

MANIFEST = "manifest.json"
FORMAT = "runspec-artifact/1"


@dataclass(frozen=True)
class Input:
    """An artifact version that a version was made from (``root`` is its registry)."""

    name: str
    version: int
    root: str

    @property
    def ref(self) -> str:
        """``name:vN``."""
        return f"{self.name}:{version_label(self.version)}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Input:
        """Read one entry of a manifest's ``inputs``."""
        return cls(str(data["name"]), int(data["version"]), str(data["root"]))

    def to_dict(self) -> dict[str, Any]:
        """The manifest form."""
        return {"name": self.name, "version": self.version, "root": self.root}


@dataclass(frozen=True)
class Version:
    """A published artifact version: where its files are and how it came to be.

    ``path`` is a local path or an fsspec URL: inside the registry for ``copy`` mode,
    the published source itself for ``reference`` mode. ``files`` maps each file's
    path relative to ``path`` to its size (copy mode only).
    """

    name: str
    version: int
    path: str
    created_at: str
    root: str
    mode: str = "copy"
    size: int = 0
    file_count: int = 0
    source: str = ""
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    producer: Mapping[str, Any] | None = None
    inputs: tuple[Input, ...] = ()
    files: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def label(self) -> str:
        """``vN``."""
        return version_label(self.version)

    @property
    def ref(self) -> str:
        """``name:vN``, the reference that always means this version."""
        return f"{self.name}:{self.label}"

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any], root: str, path: str) -> Version:
        """Build from a parsed manifest; ``path`` is where its files are, already resolved."""
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            path=path,
            created_at=str(data["created_at"]),
            root=root,
            mode=str(data.get("mode", "copy")),
            size=int(data.get("size", 0)),
            file_count=int(data.get("file_count", 0)),
            source=str(data.get("source", "")),
            metadata=MappingProxyType(dict(data.get("metadata") or {})),
            producer=MappingProxyType(dict(data["producer"])) if data.get("producer") else None,
            inputs=tuple(Input.from_dict(item) for item in data.get("inputs") or ()),
            files=MappingProxyType(dict(data.get("files") or {})),
        )

    def to_record(self) -> dict[str, Any]:
        """Everything, as JSON data that :meth:`from_record` reads back."""
        return {
            **self.to_dict(files=True),
            "version": self.version,
            "inputs": [item.to_dict() for item in self.inputs],
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Version:
        """Rebuild a version saved with :meth:`to_record`."""
        return cls.from_manifest(data, str(data["root"]), str(data["path"]))

    def to_dict(self, *, files: bool = False) -> dict[str, Any]:
        """A JSON-ready description (what ``--json`` prints); ``files`` adds the file list."""
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.label,
            "ref": self.ref,
            "path": self.path,
            "created_at": self.created_at,
            "mode": self.mode,
            "size": self.size,
            "file_count": self.file_count,
            "source": self.source,
            "root": self.root,
            "metadata": _plain(self.metadata),
            "producer": _plain(self.producer),
            "inputs": [{"ref": item.ref, **item.to_dict()} for item in self.inputs],
        }
        if files:
            data["files"] = dict(self.files)
        return data

    def value(self, name: str) -> Any:
        """What ``${art:NAME,FIELD}`` gives for ``name``: path, version, name, ref, created_at,
        or a metadata key (KeyError when there is none)."""
        builtin = {
            "path": self.path,
            "version": self.label,
            "name": self.name,
            "ref": self.ref,
            "created_at": self.created_at,
        }
        if name in builtin:
            return builtin[name]
        return _plain(self.metadata[name])


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
