"""Cold start: ``python -m runspec show --json`` against a bare ``python -c pass``.

Both commands run in fresh interpreters, interleaved in pairs (alternating which goes
first), after byte-compiling runspec. The result is the median of the per-pair ratios,
so that machine load drifting during the run affects both sides of each pair alike.
Target: a ratio of at most 1.5.

    python benchmarks/cold_start.py [--pairs 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.5


def timed(command: list[str], env: dict[str, str]) -> float:
    """Run ``command`` once from the repository root; return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="measured pairs (at least 30)")
    parser.add_argument("--script", default="examples/hello/train.py", help="recipe to show")
    args = parser.parse_args()
    if args.pairs < 30:
        parser.error("--pairs must be at least 30")

    subprocess.run([sys.executable, "-m", "compileall", "-q", "runspec"], cwd=REPO, check=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bare = [sys.executable, "-c", "pass"]
    show = [sys.executable, "-m", "runspec", "show", "--json", args.script]
    for _ in range(3):  # warm the file cache; not measured
        timed(bare, env)
        timed(show, env)

    bare_times, show_times, ratios = [], [], []
    for pair in range(args.pairs):
        if pair % 2:
            show_time, bare_time = timed(show, env), timed(bare, env)
        else:
            bare_time, show_time = timed(bare, env), timed(show, env)
        bare_times.append(bare_time)
        show_times.append(show_time)
        ratios.append(show_time / bare_time)

    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"python:      {sys.version.split()[0]} ({sys.executable})")
    print(f"pairs:       {args.pairs}")
    print(f"bare python: median {_ms(bare_times)}  (python -c pass)")
    print(f"runspec:     median {_ms(show_times)}  (python -m runspec show --json {args.script})")
    print(f"ratio:       median of pair ratios {ratio:.2f} (target <= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
