"""Publishing is atomic and safe under concurrency: real processes, real kills.

8 publishers x 20 publishes run at once; then 50 more publishers are killed with
SIGKILL at random moments of their publish. Afterwards every visible version must be
complete (all files there, with the bytes its publisher wrote), the numbers must run
1..N without gaps or duplicates, each publish must appear at most once, every publish
a process reported must be the version it said, and ``latest`` must be N. Runs on a
local folder and on S3 (moto's server). The publishers are forked by
:mod:`tests.artifacts.publisher`.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runspec_extras.artifacts import Registry
from tests.artifacts.publisher import content
from tests.support import REPO

WORKERS, EACH, KILLED, AT_ONCE = 8, 20, 50, 5
#: files per publish: fewer on S3, where moto serves one request at a time
FILES = {"local": 8, "s3": 2}


class Publishers:
    """The fork server of :mod:`tests.artifacts.publisher` and what its publishers said."""

    def __init__(self, root: str, files: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.artifacts.publisher", root, "--files", str(files)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.pids: dict[int, int] = {}
        self.done: list[tuple[int, int, int]] = []  # (version, worker, seq)
        self.ended: dict[int, int] = {}
        assert self.read() == ["serving"]

    def read(self) -> list[str]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the publisher server stopped"
        words = line.split()
        if words[0] == "ready":
            self.pids[int(words[1])] = int(words[2])
        elif words[0] == "done":
            self.done.append((int(words[2]), int(words[1]), int(words[3])))
        elif words[0] == "ended":
            self.ended[int(words[1])] = int(words[2])
        return words

    def send(self, *words: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(" ".join(map(str, words)) + "\n")
        self.proc.stdin.flush()

    def spawn(self, workers: list[int], count: int) -> None:
        for worker in workers:
            self.send("spawn", worker, count)
        while not all(worker in self.pids for worker in workers):
            self.read()

    def wait(self, workers: list[int]) -> None:
        while not all(worker in self.ended for worker in workers):
            self.read()

    def close(self) -> None:
        self.send("quit")
        self.proc.communicate(timeout=300)


def run_concurrently(server: Publishers) -> None:
    workers = list(range(WORKERS))
    server.spawn(workers, EACH)
    for worker in workers:
        server.send("go", worker)
    server.wait(workers)
    assert all(server.ended[worker] == 0 for worker in workers)


def publish_window(server: Publishers) -> float:
    """How long AT_ONCE publishers take here and now (kills are spread over 1.5 times that)."""
    workers = list(range(90, 90 + AT_ONCE))
    server.spawn(workers, 1)
    started = time.monotonic()
    for worker in workers:
        server.send("go", worker)
    server.wait(workers)
    return 1.5 * (time.monotonic() - started)


def run_and_kill(server: Publishers, rng: random.Random, window: float) -> None:
    """Start KILLED publishers, AT_ONCE at a time, and SIGKILL each at a random moment."""
    for batch in range(KILLED // AT_ONCE):
        workers = [100 + batch * AT_ONCE + n for n in range(AT_ONCE)]
        server.spawn(workers, 1)
        now = time.monotonic()
        deadlines = sorted((now + rng.uniform(0, window), worker) for worker in workers)
        for worker in workers:
            server.send("go", worker)
        for deadline, worker in deadlines:
            time.sleep(max(0.0, deadline - time.monotonic()))
            try:
                os.kill(server.pids[worker], signal.SIGKILL)
            except ProcessLookupError:
                pass  # it finished first
        server.wait(workers)


def stored_files(registry: Registry) -> dict[str, dict[str, bytes]]:
    """Version path -> relative path -> bytes of every file the store holds for ``stress``."""
    fs = registry.store.fs
    fs.invalidate_cache()
    prefix = registry.store.path("stress", "files")
    names = sorted(fs.find(prefix))
    blobs = fs.cat(names) if names else {}
    found: dict[str, dict[str, bytes]] = {}
    for name in names:
        folder, _, relative = name[len(prefix) + 1 :].partition("/")
        found.setdefault(registry.store.url(f"{prefix}/{folder}"), {})[relative] = blobs[name]
    return found


def check_registry(registry: Registry, reported: list[tuple[int, int, int]], note: str) -> int:
    versions = registry.versions("stress")
    numbers = [version.version for version in versions]
    assert numbers == list(range(1, len(numbers) + 1)), note
    made = [(version.metadata["worker"], version.metadata["seq"]) for version in versions]
    assert len(made) == len(set(made)), f"a publish appears twice: {note}"
    by_number = {version.version: version for version in versions}
    for number, worker, seq in reported:
        assert (by_number[number].metadata["worker"], by_number[number].metadata["seq"]) == (
            worker, seq,
        ), f"v{number} is not what its publisher reported: {note}"  # fmt: skip
    stored = stored_files(registry)
    for version in versions:
        worker, seq = version.metadata["worker"], version.metadata["seq"]
        files = stored.get(version.path, {})
        sizes = {name: len(data) for name, data in files.items()}
        assert sizes == dict(version.files), f"v{version.version} is incomplete: {note}"
        assert files["id.txt"] == f"{worker}-{seq}".encode(), note
        for index in range(len(files) - 1):
            assert files[f"part/{index}.bin"] == content(worker, seq, index), note
    assert registry.resolve("stress:latest").version == len(numbers), note
    return len(numbers)


@pytest.mark.parametrize("store", ["local", "s3"])
def test_concurrent_and_killed_publishers(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store == "s3":
        root = f"s3://{request.getfixturevalue('s3_env')['bucket']}/registry"
    else:
        root = str(tmp_path / "registry")
    seed = random.randrange(1 << 30)
    note = f"(random seed {seed})"
    server = Publishers(root, FILES[store])
    times = [time.monotonic()]
    try:
        run_concurrently(server)
        times.append(time.monotonic())
        assert sorted(n for n, _, _ in server.done) == list(range(1, WORKERS * EACH + 1))
        registry = Registry(root)
        assert check_registry(registry, server.done, note) == WORKERS * EACH
        times.append(time.monotonic())
        run_and_kill(server, random.Random(seed), publish_window(server))
        times.append(time.monotonic())
        killed = sum(status != 0 for status in server.ended.values())
        total = check_registry(registry, server.done, note)
        assert WORKERS * EACH + AT_ONCE <= total <= WORKERS * EACH + AT_ONCE + KILLED
        times.append(time.monotonic())

        server.spawn([999], 1)
        server.send("go", 999)
        server.wait([999])
        assert server.done[-1] == (total + 1, 999, 0)
    finally:
        server.close()
    phases = ", ".join(f"{b - a:.1f}s" for a, b in itertools.pairwise(times))
    print(f"{store}: {total} versions after {killed} kills {note}; phases {phases}")
