"""Interleaved pairs: timing a command against a baseline in the same run."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pairs", "median_ms", "run_pairs", "spread_ms", "timed"]


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Run ``command`` once; return its wall time in seconds (its output is discarded)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


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

    @property
    def ratio(self) -> float:
        """The median of the per-pair ratios: the figure the targets are stated in."""
        return statistics.median(self.ratios)

    @property
    def differences(self) -> list[float]:
        """Ours minus the baseline, pair by pair (seconds)."""
        return [ours - base for ours, base in zip(self.ours, self.baseline, strict=True)]

    def summary(self) -> str:
        """The median ratio and its min-max over the pairs."""
        return f"{self.ratio:.2f} (min-max {min(self.ratios):.2f}-{max(self.ratios):.2f})"


def run_pairs(
    ours: list[str], baseline: list[str], count: int, env: dict[str, str],
    cwd: Path | None = None, prepare: Callable[[], None] | None = None,
) -> Pairs:  # fmt: skip
    """Time both commands ``count`` times, alternating which goes first in each pair.

    ``prepare`` runs (untimed) before each run of ``ours``, e.g. to remove a cache.
    """

    def our_run() -> float:
        if prepare is not None:
            prepare()
        return timed(ours, env, cwd)

    result = Pairs([], [], [])
    for pair in range(count):
        if pair % 2:
            base_time, our_time = timed(baseline, env, cwd), our_run()
        else:
            our_time, base_time = our_run(), timed(baseline, env, cwd)
        result.ours.append(our_time)
        result.baseline.append(base_time)
        result.ratios.append(our_time / base_time)
    return result
