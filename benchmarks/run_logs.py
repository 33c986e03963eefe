"""What keeping a local run's logs costs a stream: with logs against without, same run.

A local run copies its stdout into ``stdout.log`` as it streams (``splice`` into the log,
``sendfile`` on to runspec's stdout; see runspec/run/pipeline/taps.py). Two figures,
each from interleaved rounds (which side goes first alternates), with medians and
min-max of the per-round ratios:

* ``engine``: ``run_pipeline`` in this process, one step writing SIZE bytes into a pipe
  that ``wc -c`` reads, with ``log_dir`` (logged) against without (the stream goes
  straight from the step to ``wc``): what storing SIZE more bytes costs.
* ``tee``: the whole ``runspec run generate.py -- --bytes SIZE | wc -c`` against the
  shell keeping the same log, ``python generate.py --bytes SIZE | tee LOG | wc -c``.
* ``plain``: the same ``runspec run`` against ``python generate.py --bytes SIZE | wc -c``,
  which keeps no log: what a user sees, runspec's start included.

    python benchmarks/run_logs.py [--size 100M] [--reps 11]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runspec.run.pipeline import Step, run_pipeline  # noqa: E402

GENERATE = """\
# /// script
# [tool.runspec]
# name = "bench/generate"
# [tool.runspec.run]
# launch = "direct"
# [tool.runspec.config]
# format = "json"
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
import os
import sys

size = int(sys.argv[sys.argv.index("--bytes") + 1])
block = b"x" * (1 << 16)
while size > 0:
    size -= os.write(1, block[: min(size, len(block))])
"""
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
Timed = Callable[[], "tuple[float, float]"]


def parse_size(text: str) -> int:
    """Read ``100M``, ``64K`` or a plain number of bytes."""
    unit = UNITS.get(text[-1:].upper())
    return int(text[:-1]) * unit if unit else int(text)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def engine(script: Path, size: int, logs: Path | None) -> tuple[float, float]:
    """One ``run_pipeline`` of the generator into ``wc -c``: wall and CPU seconds."""
    argv = [sys.executable, str(script), "--bytes", str(size)]
    step = Step.create("generate", argv, log_dir=logs)
    counter = subprocess.Popen(["wc", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert counter.stdin is not None
    cpu, start = _cpu(), time.perf_counter()
    result = run_pipeline([step], stdout=counter.stdin)
    counter.stdin.close()
    assert counter.stdout is not None
    counted = int(counter.stdout.read())
    counter.wait()
    wall = time.perf_counter() - start
    assert result.exit_code == 0 and counted == size, (result.describe(), counted)
    return wall, _cpu() - cpu


def command(argv: list[str], size: int, cwd: Path) -> tuple[float, float]:
    """One whole command piped into ``wc -c`` by the shell: wall and CPU seconds."""
    line = " ".join(argv) + " | wc -c"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # runspec starts from its cached bytecode
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(["sh", "-c", line], cwd=cwd, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    assert int(done.stdout) == size, done.stdout
    return wall, _cpu() - cpu


def rounds(ours: Timed, baseline: Timed, reps: int) -> tuple[list[float], list[float]]:
    """Per-round wall and CPU ratios ours/baseline; the first round only warms caches."""
    walls, cpus = [], []
    for rep in range(reps + 1):
        if rep % 2:
            base, mine = baseline(), ours()
        else:
            mine, base = ours(), baseline()
        if rep:
            walls.append(mine[0] / base[0])
            cpus.append(mine[1] / base[1])
    return walls, cpus


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (min-max {min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=100 * 10**6, help="bytes, e.g. 100M")
    parser.add_argument("--reps", type=int, default=11, help="timed rounds of each figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runspec-logs-") as tmp:
        folder = Path(tmp)
        script = folder / "generate.py"
        script.write_text(GENERATE, encoding="utf-8")
        (folder / "config").mkdir()
        (folder / "config" / "default.json").write_text("{}\n", encoding="utf-8")
        (folder / "pyproject.toml").write_text("", encoding="utf-8")
        size = args.size
        engine_walls, engine_cpus = rounds(
            lambda: engine(script, size, folder), lambda: engine(script, size, None), args.reps
        )
        ours = [sys.executable, "-m", "runspec", "run", "generate.py", "--", "--bytes", str(size)]
        plain = [sys.executable, "generate.py", "--config", "none", "--bytes", str(size)]
        tee = [*plain, "|", "tee", str(folder / "tee.log")]
        tee_walls, tee_cpus = rounds(
            lambda: command(ours, size, folder), lambda: command(tee, size, folder), args.reps
        )
        command_walls, command_cpus = rounds(
            lambda: command(ours, size, folder), lambda: command(plain, size, folder), args.reps
        )
    print(f"{args.size} bytes of stdout, {args.reps} interleaved rounds each")
    print(f"engine, logged / unlogged:         wall {_spread(engine_walls)};"
          f" CPU {_spread(engine_cpus)}")  # fmt: skip
    print(f"runspec run / python | tee LOG:    wall {_spread(tee_walls)};"
          f" CPU {_spread(tee_cpus)}")  # fmt: skip
    print(f"runspec run / plain python:        wall {_spread(command_walls)};"
          f" CPU {_spread(command_cpus)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
