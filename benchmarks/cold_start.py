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
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import median_ms, run_pairs, timed  # noqa: E402

TARGET = 1.5


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
        timed(bare, env, REPO)
        timed(show, env, REPO)

    pairs = run_pairs(show, bare, args.pairs, env, REPO)

    ratio = pairs.ratio
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"python:      {sys.version.split()[0]} ({sys.executable})")
    print(f"pairs:       {args.pairs}")
    print(f"bare python: median {median_ms(pairs.baseline)}  (python -c pass)")
    command = f"python -m runspec show --json {args.script}"
    print(f"runspec:     median {median_ms(pairs.ours)}  ({command})")
    print(f"ratio:       median of pair ratios {ratio:.2f} (target <= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
