"""Finding ``latest`` costs a few reads, not a listing of every version.

Each publish writes ``NAME/latest.json`` after its commit; a lookup reads it, then
checks that its version exists and the next one does not. When the pointer is behind
(a publisher killed between its commit and the pointer, or two publishers writing it
out of order) or missing (a registry from before the pointer), the lookup probes
forward in doubling steps and bisects: reads grow with the logarithm of the versions.
A pointer naming a missing version falls back to listing. The store is counted
through a wrapper of its fsspec filesystem (and of ``os.listdir`` for a local folder).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from runspec_extras.artifacts import Registry

VERSIONS = {"local": 500, "memory": 500, "s3": 12}
#: on S3 a listing is one request per 1,000 versions: there the point is that none happens
#: the lookup when the pointer is right: the pointer, then vN and v(N+1) together
FRESH_READS = 2


#: filesystem methods that never reach the store
LOCAL_WORK = frozenset({"invalidate_cache", "unstrip_protocol", "_strip_protocol", "_parent"})


class Counted:
    """An fsspec filesystem whose calls are counted by method name."""

    def __init__(self, fs: Any, calls: Counter[str]) -> None:
        self._fs, self._calls = fs, calls

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._fs, name)
        if not callable(found) or name in LOCAL_WORK:
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            return found(*args, **kwargs)

        return counted


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    listdir = os.listdir

    def counted_listdir(path: Any = ".") -> list[str]:
        calls["listdir"] += 1
        return listdir(path)

    monkeypatch.setattr(os, "listdir", counted_listdir)
    return calls


def filled(registry_url: str, tmp_path: Path, calls: Counter[str]) -> tuple[Registry, int]:
    """A registry holding many versions of ``data``, its store counted from now on."""
    count = VERSIONS[registry_url.partition("://")[0] if "://" in registry_url else "local"]
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a")
    registry = Registry(registry_url)
    for _ in range(count):
        registry.publish("data", str(source), mode="reference")
    registry.store.fs = Counted(registry.store.fs, calls)
    calls.clear()
    return registry, count


def set_pointer(registry: Registry, text: str | None) -> None:
    path = registry.store.path("data", "latest.json")
    if text is None:
        registry.store.fs.rm(path)
    else:
        registry.store.replace(path, text.encode())


def reads(calls: Counter[str]) -> int:
    """Round trips to the store: every call but listings, which must not happen at all."""
    assert calls["ls"] + calls["listdir"] + calls["find"] == 0, calls
    return sum(calls.values())


def test_a_fresh_pointer_costs_two_reads(
    registry_url: str, tmp_path: Path, counted: Counter[str]
) -> None:
    registry, count = filled(registry_url, tmp_path, counted)
    assert registry.resolve("data:latest").version == count
    assert reads(counted) == FRESH_READS
    assert registry.aliases("data")["latest"] == count
    assert registry.list() == ("data",)


POINTERS = [
    ("behind-by-one", '{"version": %(behind_one)d}\n'),
    ("far-behind", '{"version": 3}\n'),
    ("missing", None),
    ("not-json", "{garbage"),
    ("not-a-number", '{"version": "many"}\n'),
]


@pytest.mark.parametrize("pointer", [case[1] for case in POINTERS], ids=[c[0] for c in POINTERS])
def test_a_stale_or_missing_pointer_costs_logarithmic_reads(
    registry_url: str, tmp_path: Path, counted: Counter[str], pointer: str | None
) -> None:
    registry, count = filled(registry_url, tmp_path, counted)
    set_pointer(registry, pointer and pointer % {"behind_one": count - 1})
    counted.clear()
    assert registry.resolve("data").version == count
    assert reads(counted) <= 2 * math.ceil(math.log2(count)) + 3, counted
    counted.clear()
    assert registry.publish("data", str(tmp_path / "src"), mode="reference").version == count + 1
    assert reads(counted) <= 2 * math.ceil(math.log2(count)) + 5, counted
    counted.clear()
    assert registry.resolve("data").version == count + 1
    assert reads(counted) == FRESH_READS


def test_a_pointer_to_a_missing_version_falls_back_to_listing(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a")
    registry = Registry(str(tmp_path / "registry"))
    for _ in range(5):
        registry.publish("data", str(source))
    (tmp_path / "registry" / "data" / "latest.json").write_text('{"version": 9}\n')
    assert registry.resolve("data:latest").version == 5
    assert registry.publish("data", str(source)).version == 6
    assert registry.resolve("data:latest").version == 6


class Failing(Counted):
    """Reads of paths ending with ``broken`` fail as an unreachable store would."""

    def __init__(self, fs: Any, broken: str) -> None:
        super().__init__(fs, Counter())
        self._broken = broken

    def cat(self, paths: list[str], **kwargs: Any) -> dict[str, Any]:
        found: dict[str, Any] = self._fs.cat(paths, **kwargs)
        for path in paths:
            if path.endswith(self._broken):
                found[path] = ConnectionError(f"{path}: connection reset")
        return found


@pytest.mark.parametrize("broken", ["v3/manifest.json", "v4/manifest.json"], ids=["newest", "next"])
def test_a_failed_read_is_an_error_not_an_older_latest(tmp_path: Path, broken: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a")
    registry = Registry(f"memory://latest-{tmp_path.name}")
    for _ in range(3):
        registry.publish("data", str(source))
    registry.store.fs = Failing(registry.store.fs, broken)
    with pytest.raises(ConnectionError, match="connection reset"):
        registry.resolve("data:latest")
