"""Cold start: ``python -m runspec show --json`` against a bare ``python -c pass``.

Both commands run in fresh interpreters, interleaved in pairs (alternating which goes
first), after byte-compiling runspec, so that machine load drifting during the run
affects both sides of each pair alike; the result is the median of the per-pair ratios,
with their min-max (and the same for CPU time, steadier on a loaded machine).

Measured on two interpreters in one run: this one (whose site-packages may hold ``.pth``
files that import modules at every start, making the bare side slower), and a clean
virtual environment of it (no site-packages ``.pth``), where runspec's own cost shows.
Targets: at most 1.45 on this interpreter, at most 3.5 on the clean one.

    python benchmarks/cold_start.py [--pairs 40]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import Pairs, median_ms, run_pairs, timed  # noqa: E402

TARGETS = {"this interpreter": 1.45, "clean venv": 3.5}


def measure(python: str, script: str, pairs: int) -> Pairs:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bare = [python, "-c", "pass"]
    show = [python, "-m", "runspec", "show", "--json", script]
    for _ in range(3):  # warm the file cache; not measured
        timed(bare, env, REPO)
        timed(show, env, REPO)
    return run_pairs(show, bare, pairs, env, REPO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="measured pairs (at least 30)")
    parser.add_argument("--script", default="examples/hello/train.py", help="recipe to show")
    args = parser.parse_args()
    if args.pairs < 30:
        parser.error("--pairs must be at least 30")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "runspec"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory(prefix="runspec-venv-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        results = {
            "this interpreter": measure(sys.executable, args.script, args.pairs),
            "clean venv": measure(str(venv / "bin" / "python"), args.script, args.pairs),
        }
    print(f"python {sys.version.split()[0]} ({sys.executable}), {args.pairs} pairs each")
    print(f"command: python -m runspec show --json {args.script}, against python -c pass")
    for name, pairs in results.items():
        verdict = "met" if pairs.ratio <= TARGETS[name] else "MISSED"
        print(f"{name:16} bare {median_ms(pairs.baseline)}, runspec {median_ms(pairs.ours)};"
              f" ratio {pairs.summary()} (target <= {TARGETS[name]}: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
