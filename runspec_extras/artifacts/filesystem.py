"""``art://NAME[:VERSION]/path``: a read-only fsspec filesystem over the configured registry.

Registered through fsspec's ``fsspec.specs`` entry point (setup.cfg), so after
installing runspec ``fsspec.open("art://data:latest/train.jsonl")`` works anywhere;
without a version ``latest`` is implied. Inside a job the version is resolved once
for all ranks and recorded as used, as for ``${art:...}``.
"""

from __future__ import annotations

from typing import Any

from .._optional import importing

with importing("the art:// filesystem"):
    from fsspec import AbstractFileSystem

from .context import use
from .errors import ArtifactError
from .store import open_url
from .version import Version

__all__ = ["ArtFileSystem"]


class ArtFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """Read the files of artifact versions as ``art://name:version/relative/path``."""

    protocol = "art"
    root_marker = ""

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(item) for item in path]
        text = str(path)
        if text.startswith("art://"):
            text = text[len("art://") :]
        return text.rstrip("/")

    def _target(self, path: str) -> tuple[Any, str, str, str]:
        """(filesystem, its path, the art:// prefix, the path inside the artifact)."""
        path = self._strip_protocol(path)
        reference, _, inner = path.partition("/")
        if not reference:
            raise ArtifactError("art:// paths start with an artifact: art://NAME[:VERSION]/path")
        version: Version = use(reference, via="art://")
        fs, base = open_url(version.path, None, "reading art://")
        target = f"{base.rstrip('/')}/{inner}" if inner else base
        return fs, target, reference, inner

    def _outer(self, fs: Any, base: str, reference: str, inner_path: str) -> str:
        top = fs._strip_protocol(base).rstrip("/")
        name = fs._strip_protocol(inner_path)
        relative = name[len(top) :].lstrip("/") if name.startswith(top) else name
        return f"{reference}/{relative}" if relative else reference

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        """List a folder of an artifact."""
        fs, target, reference, inner = self._target(path)
        top = target[: len(target) - len(inner)].rstrip("/") if inner else target
        entries = fs.ls(target, detail=True)
        shown = [
            {**entry, "name": self._outer(fs, top, reference, entry["name"])} for entry in entries
        ]
        return shown if detail else [entry["name"] for entry in shown]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Size and type of a file or folder of an artifact."""
        fs, target, reference, inner = self._target(path)
        found: dict[str, Any] = dict(fs.info(target))
        found["name"] = f"{reference}/{inner}" if inner else reference
        return found

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """The bytes of a file of an artifact."""
        fs, target, _, _ = self._target(path)
        data: bytes = fs.cat_file(target, start=start, end=end)
        return data

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise PermissionError(f"art:// is read-only: cannot open {path!r} with mode {mode!r}")
        fs, target, _, _ = self._target(path)
        return fs.open(target, "rb", **{k: v for k, v in kwargs.items() if k != "autocommit"})
