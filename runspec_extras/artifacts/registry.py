"""A versioned artifact registry on any fsspec store (a folder, ``memory://``, ``s3://``).

Layout under the root::

    NAME/v3/manifest.json     one per committed version (its whole description)
    NAME/files/<id>/...       the files of a copy-mode version, written before its commit
    NAME/aliases/best.json    custom aliases
    NAME/latest.json          a pointer to the newest version, written after each commit

Publishing stages the files under a fresh ``files/<id>`` folder, then commits by
creating ``NAME/vN/manifest.json`` with :meth:`Store.create`, which succeeds only if
``vN`` does not exist; on a clash it tries ``N+1``. A version is visible exactly when
its manifest exists, so a publisher killed at any point leaves no partial version
(only an unreferenced ``files/<id>`` folder), and since a publisher tries ``vN`` only
after it has seen ``v(N-1)`` committed, the numbers have no gaps and no duplicates.
``latest`` is the highest committed number, so it moves with each commit and never
to a version that failed. ``latest.json`` is only a hint for finding it in a few
reads: it is checked on every lookup (see :mod:`.newest`).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import ArtifactError
from .newest import HintMissing, find_newest
from .reference import LATEST, Reference, check_alias, check_name, version_label
from .store import Store
from .transfer import Source, copy_into
from .version import FORMAT, MANIFEST, Input, Version

__all__ = ["MODES", "Registry"]

MODES = ("copy", "reference")
POINTER = "latest.json"


class Registry:
    """The artifact registry at ``root``, a local folder or any fsspec URL."""

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.store = Store(str(root), storage_options)
        self.root = self.store.url(self.store.root)

    def __repr__(self) -> str:
        return f"Registry({self.root!r})"

    # reading ---------------------------------------------------------------------

    def list(self) -> tuple[str, ...]:
        """The names of the artifacts with at least one version, sorted."""
        names = [name for name in self.store.children(self.store.root) if _is_name(name)]
        return tuple(sorted(name for name in names if self._newest(name)))

    def versions(self, name: str) -> tuple[Version, ...]:
        """Every version of ``name``, oldest first (empty when there is none)."""
        check_name(name)
        paths = [self._manifest_path(name, number) for number in self._numbers(name)]
        manifests = self.store.read_many(paths)
        return tuple(self._version(manifests[path]) for path in paths if path in manifests)

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version number for ``name``, ``latest`` included when it has versions."""
        check_name(name)
        folder = self.store.path(name, "aliases")
        names = [entry[:-5] for entry in self.store.children(folder) if entry.endswith(".json")]
        paths = {alias: f"{folder}/{alias}.json" for alias in names}
        found = self.store.read_many(paths.values())
        table = {
            alias: int(found[path]["version"]) for alias, path in paths.items() if path in found
        }
        newest = self._newest(name)
        if newest:
            table[LATEST] = newest[0]
        return dict(sorted(table.items()))

    def resolve(self, reference: str | Reference) -> Version:
        """The version ``name[:vN|alias]`` names (``latest`` when none is given)."""
        ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
        if ref.alias == LATEST:
            newest = self._newest(ref.name)
            if newest is None:
                raise ArtifactError(self._unknown(ref.name))
            return self._version(newest[1])
        number = ref.version if ref.version is not None else self._alias_target(ref)
        manifest = self.store.read_json(self._manifest_path(ref.name, number))
        if manifest is None and not self._numbers(ref.name):
            raise ArtifactError(self._unknown(ref.name))
        if manifest is None:
            raise ArtifactError(f"{ref.name} has no version {version_label(number)} "
                                f"(versions: {self._shown_numbers(ref.name)})")  # fmt: skip
        return self._version(manifest)

    def _alias_target(self, ref: Reference) -> int:
        found = self.store.read_json(self.store.path(ref.name, "aliases", f"{ref.alias}.json"))
        if found is not None:
            return int(found["version"])
        if not self._numbers(ref.name):
            raise ArtifactError(self._unknown(ref.name))
        known = ", ".join(self.aliases(ref.name))
        raise ArtifactError(f"{ref.name} has no alias {ref.alias!r} (aliases: {known})")

    def _newest(self, name: str) -> tuple[int, Any] | None:
        """The newest version's number and manifest (None: no version), in a few reads."""

        def probe(numbers: Sequence[int]) -> dict[int, Any]:
            paths = {self._manifest_path(name, number): number for number in numbers}
            return {paths[path]: doc for path, doc in self.store.read_many(paths).items()}

        try:
            return find_newest(probe, self._pointer(name))
        except HintMissing:  # versions were removed by hand: only a listing can tell
            numbers = self._numbers(name)
            return (numbers[-1], probe(numbers[-1:])[numbers[-1]]) if numbers else None

    def _pointer(self, name: str) -> int:
        """The version ``latest.json`` names; 0 when it is missing or unreadable."""
        try:
            found = self.store.read_json(self.store.path(name, POINTER))
            number = found["version"] if isinstance(found, dict) else 0
        except ArtifactError:
            return 0
        return number if type(number) is int and number > 0 else 0

    def _unknown(self, name: str) -> str:
        known = ", ".join(self.list()) or "none"
        return f"no artifact {name!r} in {self.root} (artifacts: {known})"

    def _shown_numbers(self, name: str) -> str:
        numbers = self._numbers(name)
        if not numbers:
            return "none"
        if numbers == tuple(range(1, len(numbers) + 1)) and len(numbers) > 3:
            return f"v1 to v{numbers[-1]}"
        return ", ".join(map(version_label, numbers))

    def _numbers(self, name: str) -> tuple[int, ...]:
        entries = self.store.children(self.store.path(name))
        # string tests, not a regex: resolving latest among thousands of versions is this loop
        found = (entry[1:] for entry in entries if entry[:1] == "v" and entry[1:2] != "0")
        numbers = (int(digits) for digits in found if digits.isdigit() and digits.isascii())
        return tuple(sorted(numbers))

    def _manifest_path(self, name: str, number: int) -> str:
        return self.store.path(name, version_label(number), MANIFEST)

    def _version(self, manifest: Mapping[str, Any]) -> Version:
        location = str(manifest["path"])
        if manifest.get("mode", "copy") == "copy":
            location = self.store.url(self.store.path(str(manifest["name"]), location))
        return Version.from_manifest(manifest, self.root, location)

    # writing ---------------------------------------------------------------------

    def publish(
        self,
        name: str,
        source: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        mode: str = "copy",
        inputs: Iterable[Input | Version] = (),
        producer: Mapping[str, Any] | None = None,
    ) -> Version:
        """Publish ``source`` (a path or URL, file or folder) as the next version of ``name``.

        ``copy`` copies the files into the registry; ``reference`` records where they
        are. ``inputs`` are the versions this one was made from; ``producer`` describes
        the job that made it (see :mod:`runspec_extras.artifacts.context`).
        """
        check_name(name)
        if mode not in MODES:
            raise ArtifactError(f"unknown publish mode {mode!r} (modes: {', '.join(MODES)})")
        meta = _json_ready(metadata or {}, "metadata")
        files = Source.open(str(source))
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "version": None,
            "created_at": _now(),
            "mode": mode,
            "path": files.url,
            "source": files.url,
            "size": sum(files.files.values()),
            "file_count": len(files.files),
            "producer": _json_ready(producer, "producer") if producer else None,
            "inputs": _inputs(inputs),
            "metadata": meta,
        }
        if mode == "copy":
            manifest["path"] = f"files/{_stage_id()}"
            manifest["files"] = dict(files.files)
            copy_into(files, self.store, self.store.path(name, str(manifest["path"])))
        return self._version(self._commit(name, manifest))

    def _commit(self, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
        newest = self._newest(name)
        number = newest[0] + 1 if newest else 1
        while True:
            manifest["version"] = number
            text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
            folder = self.store.path(name, version_label(number))
            if self.store.create(folder, MANIFEST, text.encode()):
                break
            number += 1  # v<number> exists: someone else committed it
        pointer = (json.dumps({"version": number}) + "\n").encode()
        with contextlib.suppress(OSError):  # only a hint: lookups check it
            self.store.replace(self.store.path(name, POINTER), pointer)
        return manifest

    def alias(self, name: str, version: int | str, alias: str) -> Version:
        """Point ``alias`` of ``name`` at ``version`` (``3`` or ``"v3"``); return that version."""
        check_alias(alias)
        if alias == LATEST:
            raise ArtifactError("'latest' always names the newest version and cannot be set")
        target = self.resolve(Reference.parse(f"{name}:{version}"))
        record = {"version": target.version, "set_at": _now()}
        path = self.store.path(name, "aliases", f"{alias}.json")
        self.store.replace(path, (json.dumps(record) + "\n").encode())
        return target


def _is_name(entry: str) -> bool:
    try:
        check_name(entry)
    except ArtifactError:
        return False
    return True


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stage_id() -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:12]}"


def _inputs(items: Iterable[Input | Version]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str, int], dict[str, Any]] = {}
    for item in items:
        entry = Input(item.name, item.version, item.root) if isinstance(item, Version) else item
        seen[(entry.root, entry.name, entry.version)] = entry.to_dict()
    return list(seen.values())


def _json_ready(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{what} must be JSON data: {exc}") from exc
