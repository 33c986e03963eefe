"""The steps' process groups: which still have live members, and stopping them.

Stopping sends a signal (SIGTERM, or the one runspec received) to every group,
waits the grace period, then sends SIGKILL; after SIGKILL the engine gives the
groups ``_KILL_WAIT`` seconds to empty.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from .spawn import Child

__all__ = ["Stopper", "live_groups"]

_KILL_WAIT = 2.0  # how long SIGKILLed processes may take to disappear
_SIGKILL = 9  # the same number on Linux and the BSDs


class Stopper:
    """Stops the process groups of ``children`` (the engine's list, read as it grows), and
    the processes ``escaped`` returns (descendants outside those groups), one by one."""

    def __init__(
        self, children: Sequence[Child], grace: float,
        escaped: Callable[[], Collection[int]] = frozenset,
    ) -> None:  # fmt: skip
        self._children = children
        self._grace = grace
        self._escaped = escaped
        self.stopping = False
        self._kill_at: float | None = None
        self._give_up_at: float | None = None

    def stop(self, signum: int) -> None:
        """Send ``signum`` to every group; SIGKILL follows after the grace period."""
        self.stopping = True
        self._kill_at = time.monotonic() + self._grace
        self.signal(signum)

    def kill(self) -> None:
        """Send SIGKILL to every group now, and wait at most ``_KILL_WAIT`` for them."""
        self._kill_at = None
        self._give_up_at = time.monotonic() + _KILL_WAIT
        self.signal(_SIGKILL)

    def kill_due(self) -> bool:
        """Whether the grace period is over."""
        return self._kill_at is not None and time.monotonic() >= self._kill_at

    def gave_up(self) -> bool:
        """Whether the groups had their time to empty after SIGKILL."""
        return self._give_up_at is not None and time.monotonic() >= self._give_up_at

    def deadline(self) -> float | None:
        """The next moment something is due (SIGKILL, or giving up), if any."""
        return self._kill_at if self._kill_at is not None else self._give_up_at

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the groups of running steps and to live groups of exited ones."""
        running = [c.pid for c in self._children if c.returncode is None]
        exited = [c.pid for c in self._children if c.returncode is not None]
        for pgid in (*running, *live_groups(exited)):
            try:
                os.killpg(pgid, signum)
            except OSError:
                pass  # the group has just emptied
        for pid in self._escaped():
            try:
                os.kill(pid, signum)
            except OSError:
                pass  # it has just exited


def live_groups(pgids: Collection[int]) -> set[int]:
    """Return the process groups among ``pgids`` with a member that is not a zombie."""
    from .reaper import process_table

    wanted = set(pgids)
    if not wanted:
        return set()
    table = process_table()
    if table is None:
        return {pgid for pgid in wanted if _group_exists(pgid)}
    alive = (group for state, _, group in table.values() if state not in ("Z", "X"))
    return {group for group in alive if group in wanted}


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
