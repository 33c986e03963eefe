"""Peak RSS of the process that runs ``run_pipeline``, at 100 MiB and at 1 GiB of data.

Each measurement runs a fresh driver interpreter that imports runspec, notes its peak
RSS (the baseline), runs one pipeline and reports its peak RSS again
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``; the steps are other processes and
are not counted). Modes:

* ``stream``: SIZE bytes through ``head -c SIZE /dev/zero | cat | wc -c``;
* ``stderr``: a step writes SIZE bytes to stderr with no newline at all, read by
  runspec with ``prefix_stderr=True`` (the worst case for the line buffer);
* ``lines``: a step writes SIZE bytes of 100-byte lines to stderr, prefixed.

Prints the peak of each mode at each size and the ratio large/small (target: 1.0,
i.e. memory does not grow with the data).

Usage: python benchmarks/pipe_memory.py [--small 100M] [--large 1G] [--modes ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
LINE = "x" * 99
STEPS = {
    "stream": (
        "[Step('src', ('head', '-c', str(size), '/dev/zero')),"
        " Step('cat', ('cat',)), Step('count', ('wc', '-c'))]"
    ),
    "stderr": "[Step('err', ('sh', '-c', f'head -c {size} /dev/zero >&2'))]",
    "lines": f"[Step('err', ('sh', '-c', f'yes {LINE} | head -c {{size}} >&2'))]",
}
DRIVER = """
import resource, sys, time
from runspec.run.pipeline import Step, run_pipeline
size, prefix = int(sys.argv[1]), sys.argv[2] != 'stream'
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
result = run_pipeline({steps}, prefix_stderr=prefix, stdout=sys.stdout.fileno())
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert result.exit_code == 0, result.describe()
print(before, after, seconds, file=open(sys.argv[3], 'w'))
"""


def parse_size(text: str) -> int:
    """Read ``1G``, ``100M``, ``64K`` or a plain number of bytes."""
    unit = UNITS.get(text[-1:].upper())
    return int(text[:-1]) * unit if unit else int(text)


def peak_kib(mode: str, size: int, report: Path) -> tuple[int, int, float]:
    """Run one driver; return its peak RSS in KiB before and after, and the seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = DRIVER.format(steps=STEPS[mode])
    with open(os.devnull, "wb") as devnull:
        subprocess.run(
            [sys.executable, "-c", code, str(size), mode, str(report)],
            env=env,
            stdout=devnull,
            stderr=devnull,
            check=True,
        )
    before, after, seconds = report.read_text().split()
    return int(before), int(after), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=parse_size, default=100 << 20)
    parser.add_argument("--large", type=parse_size, default=1 << 30)
    parser.add_argument("--modes", nargs="+", choices=list(STEPS), default=list(STEPS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report"
        for mode in args.modes:
            small = peak_kib(mode, args.small, report)
            large = peak_kib(mode, args.large, report)
            print(
                f"{mode:7} baseline {small[0]:6d} KiB | peak at {args.small >> 20} MiB"
                f" {small[1]:6d} KiB ({small[2]:.2f} s) | at {args.large >> 20} MiB"
                f" {large[1]:6d} KiB ({large[2]:.2f} s) | ratio {large[1] / small[1]:.3f}"
            )


if __name__ == "__main__":
    main()
