"""Throughput of ``run_pipeline`` against the same commands run by ``sh -c 'a | b | c'``.

Both push SIZE bytes through three streaming steps (``head -c SIZE /dev/zero | cat |
wc -c``); repetitions alternate which one goes first, and the byte count that ``wc``
prints is checked each time. Prints MB/s (10**6 bytes per second) of each, the ratio
of the medians, and the median of the per-round ratios, which is steadier on a shared
machine since both runs of a round see about the same load (target: >= 0.9).

Usage: python benchmarks/pipe_throughput.py [--size 1G] [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """Read ``1G``, ``100M``, ``64K`` or a plain number of bytes."""
    unit = UNITS.get(text[-1:].upper())
    return int(text[:-1]) * unit if unit else int(text)


def commands(size: int) -> list[list[str]]:
    return [["head", "-c", str(size), "/dev/zero"], ["cat"], ["wc", "-c"]]


def time_runspec(size: int, out: Path) -> float:
    from runspec.run.pipeline import Step, run_pipeline

    steps = [Step.create(argv[0], argv) for argv in commands(size)]
    with out.open("wb") as sink:
        start = time.perf_counter()
        result = run_pipeline(steps, stdout=sink)
        elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.describe()
    return elapsed


def time_shell(size: int, out: Path) -> float:
    script = " | ".join(" ".join(argv) for argv in commands(size))
    with out.open("wb") as sink:
        start = time.perf_counter()
        subprocess.run(["sh", "-c", script], stdout=sink, check=True)
        return time.perf_counter() - start


def measure(size: int, reps: int) -> dict[str, list[float]]:
    runners = {"runspec": time_runspec, "shell": time_shell}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "count"
        for rep in range(reps + 1):  # the first round only warms caches
            order = list(runners) if rep % 2 else list(reversed(runners))
            for name in order:
                elapsed = runners[name](size, out)
                assert int(out.read_text()) == size, (name, out.read_text())
                if rep:
                    seconds[name].append(elapsed)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=parse_size, default=1 << 30, help="bytes, e.g. 1G"
    )
    parser.add_argument("--reps", type=int, default=5, help="timed rounds of each")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    seconds = measure(args.size, args.reps)
    rates = {
        name: args.size / statistics.median(t) / 1e6 for name, t in seconds.items()
    }
    paired = [s / r for r, s in zip(seconds["runspec"], seconds["shell"], strict=True)]
    print(f"{args.size} bytes through 3 steps, {args.reps} interleaved rounds")
    for name, times in seconds.items():
        spread = ", ".join(f"{args.size / t / 1e6:.0f}" for t in times)
        print(f"{name:8} median {rates[name]:7.0f} MB/s   (rounds: {spread})")
    print(f"ratio of medians runspec/shell: {rates['runspec'] / rates['shell']:.3f}")
    print(
        f"median of per-round ratios: {statistics.median(paired):.3f} (target >= 0.9)"
    )


if __name__ == "__main__":
    main()
