"""Finding an artifact's newest version in a few reads, whatever the number of versions.

Version numbers have no gaps (a publisher tries ``vN`` only after it has seen
``v(N-1)`` committed), so "does ``vN`` exist" is true up to the newest version and
false after it. :func:`find_newest` starts from a hint (the ``latest.json`` pointer a
publisher writes after its commit), checks the hinted version and the next one in one
read, and when the hint is behind (a publisher killed between its commit and the
pointer, or two publishers writing it out of order) or absent, probes forward in
doubling steps, then bisects: ``2 log2(gap)`` reads at worst. The pointer only ever
names a committed version, so a version that failed never becomes the newest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["HintMissing", "Probe", "find_newest"]

Probe = Callable[[Sequence[int]], Mapping[int, Any]]
"""Read the manifests of some version numbers in one round trip: number -> manifest,
for those that exist."""


class HintMissing(Exception):
    """The hinted version does not exist: versions were removed, the numbers may have gaps."""


def find_newest(probe: Probe, hint: int) -> tuple[int, Any] | None:
    """The newest version's number and manifest, or None when there is no version.

    Raises :class:`HintMissing` when ``hint`` (> 0) names no version.
    """
    below: tuple[int, Any] | None = None
    if hint > 0:
        found = probe([hint, hint + 1])
        if hint not in found:
            raise HintMissing(hint)
        if hint + 1 not in found:
            return hint, found[hint]
        below = hint + 1, found[hint + 1]
    return _gallop(probe, below)


def _gallop(probe: Probe, below: tuple[int, Any] | None) -> tuple[int, Any] | None:
    """From ``below`` (a version known to exist; None: before v1), the newest one."""
    low = below[0] if below else 0
    step = 1
    while True:
        number = low + step
        found = probe([number])
        if number not in found:
            break
        below, low, step = (number, found[number]), number, step * 2
    high = low + step  # missing; everything up to low exists
    while high - low > 1:
        middle = (low + high) // 2
        found = probe([middle])
        if middle in found:
            below, low = (middle, found[middle]), middle
        else:
            high = middle
    return below
