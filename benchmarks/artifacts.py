"""Artifacts: publishing 1 GiB against ``cp -r``, and resolving among 1,000 versions.

1. Publish and resolve (copy mode, a local folder) a tree of 1,000 files of 1 MiB, in a
   fresh interpreter (``python -c`` with ``Registry.publish`` then ``resolve``), against
   ``cp -r`` of the same tree, interleaved in pairs (alternating which goes first); each
   copy is deleted after its pair, outside the timing. Reported: medians and the median
   of the per-pair ratios.
2. ``Registry.resolve`` of ``name:latest`` and of ``name:v500`` in a registry holding
   1,000 versions of one artifact, against the same resolve in a registry holding one
   version, in one process (median of many calls each).

    python benchmarks/artifacts.py [--pairs 5] [--calls 200] [--only publish|resolve]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import median_ms, timed  # noqa: E402

FILES, FILE_SIZE = 1000, 1 << 20


def make_tree(folder: Path) -> Path:
    """1,000 files of 1 MiB (random bytes, so no store can shortcut them) in 10 folders."""
    block = os.urandom(FILE_SIZE)
    for index in range(FILES):
        path = folder / f"part-{index % 10}" / f"shard-{index:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(block[index:] + block[:index])
    return folder


def publish_against_cp(scratch: Path, pairs: int) -> None:
    source = make_tree(scratch / "source")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = (
        "import sys; from runspec_extras.artifacts import Registry; "
        "r = Registry(sys.argv[1]); r.publish('bench', sys.argv[2]); r.resolve('bench:latest')"
    )
    ours_times, cp_times, ratios = [], [], []
    for pair in range(pairs + 1):  # the first pair warms the caches and is not counted
        registry, copy = scratch / f"registry-{pair}", scratch / f"copy-{pair}"
        ours = [sys.executable, "-c", code, str(registry), str(source)]
        cp = ["cp", "-r", str(source), str(copy)]
        if pair % 2:
            cp_time, our_time = timed(cp, env), timed(ours, env)
        else:
            our_time, cp_time = timed(ours, env), timed(cp, env)
        shutil.rmtree(registry)
        shutil.rmtree(copy)
        if pair:
            ours_times.append(our_time)
            cp_times.append(cp_time)
            ratios.append(our_time / cp_time)
    print(f"publish + resolve, 1 GiB in {FILES} files: {median_ms(ours_times)}")
    print(f"cp -r of the same tree:                   {median_ms(cp_times)}")
    print(f"ratio (median of {pairs} pairs): {statistics.median(ratios):.2f}")


def resolve_times(registry: object, reference: str, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        registry.resolve(reference)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return times


def resolve_among_versions(scratch: Path, calls: int) -> None:
    from runspec_extras.artifacts import Registry

    source = scratch / "small"
    source.mkdir()
    (source / "a.txt").write_text("a")
    one, many = Registry(str(scratch / "one")), Registry(str(scratch / "many"))
    one.publish("bench", str(source))
    for _ in range(1000):
        many.publish("bench", str(source), mode="reference")
    base = resolve_times(one, "bench:latest", calls)
    latest = resolve_times(many, "bench:latest", calls)
    pinned = resolve_times(many, "bench:v500", calls)
    print(f"resolve bench:latest, 1 version:      {median_ms(base)}")
    print(f"resolve bench:latest, 1,000 versions: {median_ms(latest)} "
          f"(ratio {statistics.median(latest) / statistics.median(base):.2f})")  # fmt: skip
    print(f"resolve bench:v500,   1,000 versions: {median_ms(pinned)} "
          f"(ratio {statistics.median(pinned) / statistics.median(base):.2f})")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="measured pairs of the 1 GiB copy")
    parser.add_argument("--calls", type=int, default=200, help="resolves timed per case")
    parser.add_argument("--only", choices=["publish", "resolve"], help="run one of the two")
    args = parser.parse_args()
    if args.only != "resolve":
        with tempfile.TemporaryDirectory() as folder:
            publish_against_cp(Path(folder), args.pairs)
    if args.only != "publish":
        with tempfile.TemporaryDirectory() as folder:
            resolve_among_versions(Path(folder), args.calls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
