"""Interleaved pairs: timing a command against a baseline in the same run.

Each run is timed twice: wall-clock (the figure the targets are stated in) and CPU time
(user + system of the process and its children, from ``wait4``), which stays steady when
other work loads the machine, since time spent waiting for a CPU is not counted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Pairs", "median_ms", "run_pairs", "spread_ms", "timed"]


def _run(command: list[str], env: dict[str, str], cwd: Path | None) -> tuple[float, float]:
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return wall, usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Run ``command`` once; return its wall time in seconds (its output is discarded)."""
    return _run(command, env, cwd)[0]


def median_ms(times: list[float]) -> str:
    """The median of ``times`` (seconds) in milliseconds, for printing."""
    return f"{statistics.median(times) * 1000:.1f} ms"


def spread_ms(times: list[float]) -> str:
    """The median and the range of ``times`` (seconds) in milliseconds, for printing."""
    low, high = min(times) * 1000, max(times) * 1000
    return f"median {statistics.median(times) * 1000:.1f} ms (min-max {low:.1f}-{high:.1f})"


@dataclass(frozen=True)
class Pairs:
    """The times of each side and the ratio (ours / baseline) of every pair."""

    ours: list[float]
    baseline: list[float]
    ratios: list[float]
    cpu_ours: list[float] = field(default_factory=list)
    cpu_baseline: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """The median of the per-pair ratios: the figure the targets are stated in."""
        return statistics.median(self.ratios)

    @property
    def differences(self) -> list[float]:
        """Ours minus the baseline, pair by pair (seconds)."""
        return [ours - base for ours, base in zip(self.ours, self.baseline, strict=True)]

    @property
    def cpu_ratios(self) -> list[float]:
        """Per-pair ratios of CPU time (steadier than wall time on a loaded machine)."""
        return [ours / base for ours, base in zip(self.cpu_ours, self.cpu_baseline, strict=True)]

    def summary(self) -> str:
        """The median wall-clock ratio and its min-max, then the same for CPU time."""
        cpu = self.cpu_ratios
        return (
            f"{self.ratio:.2f} (min-max {min(self.ratios):.2f}-{max(self.ratios):.2f});"
            f" CPU time {statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f})"
        )


def run_pairs(
    ours: list[str], baseline: list[str], count: int, env: dict[str, str],
    cwd: Path | None = None, prepare: Callable[[], None] | None = None,
) -> Pairs:  # fmt: skip
    """Time both commands ``count`` times, alternating which goes first in each pair.

    ``prepare`` runs (untimed) before each run of ``ours``, e.g. to remove a cache.
    """

    def our_run() -> tuple[float, float]:
        if prepare is not None:
            prepare()
        return _run(ours, env, cwd)

    result = Pairs([], [], [])
    for pair in range(count):
        if pair % 2:
            base, mine = _run(baseline, env, cwd), our_run()
        else:
            mine, base = our_run(), _run(baseline, env, cwd)
        result.ours.append(mine[0])
        result.baseline.append(base[0])
        result.ratios.append(mine[0] / base[0])
        result.cpu_ours.append(mine[1])
        result.cpu_baseline.append(base[1])
    return result
