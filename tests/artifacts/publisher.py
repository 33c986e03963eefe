"""Publisher processes for the concurrency tests: ``python -m tests.artifacts.publisher ROOT``.

A small fork server, so that each publisher is a real process that a test can SIGKILL
without paying the interpreter's and s3fs's start-up for each of them. It imports the
registry (and s3fs for ``s3://``) but opens nothing, then obeys lines on stdin:

``spawn ID COUNT``  fork publisher ID; it opens the registry, prepares COUNT source
                    folders and prints ``ready ID PID``
``go ID``           publisher ID publishes its folders as versions of ``stress``,
                    printing ``done ID VERSION SEQ`` after each commit
``quit``            wait for every publisher, then exit

When a publisher ends (or is killed) the server prints ``ended ID STATUS``. Each
folder holds ``id.txt`` (``ID-SEQ``) and ``--files`` files whose bytes say who wrote
them (:func:`content`); the metadata says it too.
"""

from __future__ import annotations

import argparse
import os
import selectors
import tempfile
from pathlib import Path

from runspec_extras.artifacts import Registry

FILE_SIZE = 32 * 1024


def content(worker: int, seq: int, index: int) -> bytes:
    """The bytes of file ``index`` of publish ``seq`` of ``worker``: checkable afterwards."""
    stamp = f"{worker}-{seq}-{index};".encode()
    return (stamp * (FILE_SIZE // len(stamp) + 1))[:FILE_SIZE]


def make_source(folder: Path, worker: int, seq: int, files: int) -> Path:
    """Write the source folder of publish ``seq`` of ``worker``."""
    source = folder / f"{worker}-{seq}"
    (source / "part").mkdir(parents=True)
    (source / "id.txt").write_text(f"{worker}-{seq}")
    for index in range(files):
        (source / "part" / f"{index}.bin").write_bytes(content(worker, seq, index))
    return source


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # one write: lines of several processes never mix


def publish(root: str, worker: int, count: int, files: int, go: int) -> None:
    """The life of one forked publisher."""
    registry = Registry(root)
    registry.list()  # connect before the part a test times
    with tempfile.TemporaryDirectory() as scratch:
        sources = [make_source(Path(scratch), worker, seq, files) for seq in range(count)]
        say(f"ready {worker} {os.getpid()}")
        os.read(go, 1)
        for seq, source in enumerate(sources):
            meta = {"worker": worker, "seq": seq}
            version = registry.publish("stress", str(source), metadata=meta)
            say(f"done {worker} {version.version} {seq}")


def serve(root: str, files: int) -> None:
    children: dict[int, int] = {}  # pid -> worker
    gates: dict[int, int] = {}  # worker -> write end of its go pipe
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    pending = b""
    while True:
        ready = selector.select(timeout=0.02)
        _reap(children, block=False)
        if not ready:
            continue
        chunk = os.read(0, 65536)  # not sys.stdin: its buffer would hide lines from select
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines if chunk else [b"quit"]:
            words = line.decode().split()
            if words[0] == "quit":
                _reap(children, block=True)
                return
            if words[0] == "spawn":
                worker, count = int(words[1]), int(words[2])
                read_end, gates[worker] = os.pipe()
                pid = os.fork()
                if pid == 0:
                    _child(root, worker, count, files, read_end)
                os.close(read_end)
                children[pid] = worker
            elif words[0] == "go":
                _open_gate(gates.pop(int(words[1])))


def _open_gate(gate: int) -> None:
    """Let a publisher go; a test may have killed it before its ``go`` got here."""
    try:
        os.write(gate, b"g")
    except BrokenPipeError:
        pass
    finally:
        os.close(gate)


def _child(root: str, worker: int, count: int, files: int, go: int) -> None:
    code = 1
    try:
        publish(root, worker, count, files, go)
        code = 0
    finally:
        os._exit(code)


def _reap(children: dict[int, int], *, block: bool) -> None:
    while children:
        pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        if pid == 0:
            return
        say(f"ended {children.pop(pid)} {status}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args()
    if args.root.startswith("s3://"):
        import s3fs  # noqa: F401  (imported once here, not in every publisher)
    say("serving")
    serve(args.root, args.files)


if __name__ == "__main__":
    main()
