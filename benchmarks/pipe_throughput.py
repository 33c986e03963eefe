"""Throughput of ``runspec pipe`` against the same three steps run by ``sh -c 'a | b | c'``.

By default, whole commands: ``runspec pipe generate -- --bytes SIZE + copy + count``
(three tiny Python recipes, see ``_recipes.py``) against the shell running the same three
commands; the count the last step prints is checked each time. This includes runspec's
start (see ``pipe_fixed_cost.py``), as a user sees it. ``--engine`` measures the pipeline
engine alone instead: ``run_pipeline`` in this process against ``sh -c``, both on
``head -c SIZE /dev/zero | cat | wc -c``.

Rounds alternate which side goes first. Prints MB/s (10**6 bytes per second) of each and
the median of the per-round throughput ratios runspec/shell with min-max, which is
steadier on a shared machine since both runs of a round see about the same load.
Target: at least 0.9.

    python benchmarks/pipe_throughput.py [--size 100M] [--reps 15] [--engine]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _recipes import pipe_command, shell_command, write_recipes  # noqa: E402

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
TARGET = 0.9
Runner = Callable[[Path], float]


def parse_size(text: str) -> int:
    """Read ``1G``, ``100M``, ``64K`` or a plain number of bytes."""
    unit = UNITS.get(text[-1:].upper())
    return int(text[:-1]) * unit if unit else int(text)


def _timed(command: list[str], out: Path, **kw: object) -> float:
    with out.open("wb") as sink:
        start = time.perf_counter()
        subprocess.run(command, stdout=sink, check=True, **kw)  # type: ignore[call-overload]
        return time.perf_counter() - start


def commands_runners(size: int, folder: Path) -> dict[str, Runner]:
    """Whole commands: ``runspec pipe`` of three recipes against the shell."""
    paths = write_recipes(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ours, shell = pipe_command(paths, size), shell_command(paths, size)
    return {
        "runspec": lambda out: _timed(ours, out, env=env, cwd=folder),
        "shell": lambda out: _timed(shell, out, cwd=folder),
    }


def engine_runners(size: int, folder: Path) -> dict[str, Runner]:
    """The engine alone: ``run_pipeline`` in this process against ``sh -c``."""
    sys.path.insert(0, str(ROOT))
    from runspec.run.pipeline import Step, run_pipeline

    argvs = [["head", "-c", str(size), "/dev/zero"], ["cat"], ["wc", "-c"]]

    def ours(out: Path) -> float:
        steps = [Step.create(argv[0], argv) for argv in argvs]
        with out.open("wb") as sink:
            start = time.perf_counter()
            result = run_pipeline(steps, stdout=sink)
            elapsed = time.perf_counter() - start
        assert result.exit_code == 0, result.describe()
        return elapsed

    script = " | ".join(" ".join(argv) for argv in argvs)
    return {"runspec": ours, "shell": lambda out: _timed(["sh", "-c", script], out)}


def measure(
    runners: dict[str, Runner], size: int, reps: int, folder: Path
) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    out = folder / "count"
    for rep in range(reps + 1):  # the first round only warms caches
        order = list(runners) if rep % 2 else list(reversed(runners))
        for name in order:
            elapsed = runners[name](out)
            assert int(out.read_text()) == size, (name, out.read_text())
            if rep:
                seconds[name].append(elapsed)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=100 * 10**6, help="bytes, e.g. 100M")
    parser.add_argument("--reps", type=int, default=15, help="timed rounds of each")
    parser.add_argument("--engine", action="store_true", help="the engine alone, in-process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runspec-throughput-") as tmp:
        make = engine_runners if args.engine else commands_runners
        seconds = measure(make(args.size, Path(tmp)), args.size, args.reps, Path(tmp))
    rates = {name: args.size / statistics.median(t) / 1e6 for name, t in seconds.items()}
    paired = [s / r for r, s in zip(seconds["runspec"], seconds["shell"], strict=True)]
    what = "run_pipeline (engine)" if args.engine else "runspec pipe (whole command)"
    print(f"{args.size} bytes through 3 steps, {what}, {args.reps} interleaved rounds")
    for name, times in seconds.items():
        spread = f"{args.size / max(times) / 1e6:.0f}-{args.size / min(times) / 1e6:.0f}"
        print(f"{name:8} median {rates[name]:7.0f} MB/s (min-max {spread})")
    median = statistics.median(paired)
    verdict = "met" if median >= TARGET else "MISSED"
    print(f"runspec/shell throughput: {median:.2f} (min-max {min(paired):.2f}-{max(paired):.2f})"
          f" (target >= {TARGET}: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
