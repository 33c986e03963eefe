"""Processes that leave their step's process group, and steps that outlive runspec (Linux).

Stopping a step signals its process group; a process the step starts in a new session
(``setsid``, ``start_new_session=True``, torchrun's workers, a daemon) is not in it. While
steps run, runspec is a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): an orphan among
its descendants is handed to runspec instead of to init, so every descendant stays
reachable by walking ``/proc`` down from runspec, and :class:`Reaper` finds and reaps them.

Each step also gets ``PR_SET_PDEATHSIG``: should runspec be killed with SIGKILL, the
kernel sends every step SIGTERM, which ends a step the way Ctrl-C would. What a step
started outside its group is then the step's to stop (torchrun stops its workers). On
systems without ``prctl`` none of this applies: steps' process groups are stopped, and
processes in other sessions are left alone.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = ["Reaper", "parent_death_signal", "process_table"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_SIGTERM = 15


_PRCTL: list[Callable[..., int] | None] = []  # libc's prctl once looked up


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, where there is one (Linux)."""
    if not _PRCTL:
        _PRCTL.append(_find_prctl())
    return _PRCTL[0]


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    return function


def parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGTERM the child when runspec dies."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, _SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # runspec died before the line above took effect
            os._exit(128 + _SIGTERM)

    return in_child


class Reaper:
    """runspec as a subreaper while steps run: its descendants, found and reaped."""

    def __init__(self) -> None:
        self._prctl = _prctl()
        self._was_subreaper: int | None = None
        if self._prctl is not None:
            import ctypes

            flag = ctypes.c_int(0)
            if self._prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0:
                self._was_subreaper = flag.value
                self._prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self._me = os.getpid()
        # runspec's own children from before (e.g. git asked for the record) are not steps'
        self._foreign = {pid for pid, (_, ppid, _) in _processes().items() if ppid == self._me}
        self._adopted: set[int] = set()

    def descendants(self, steps: Collection[int]) -> set[int]:
        """Live descendants of the steps outside the steps' process groups.

        A descendant runspec adopted (an orphan) counts too, and is reaped once it exits.
        """
        table = _processes()
        children: dict[int, list[int]] = {}
        for pid, (_, ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        found: set[int] = set()
        todo = [pid for pid in children.get(self._me, ()) if pid not in self._foreign]
        while todo:
            pid = todo.pop()
            if table[pid][1] == self._me and pid not in steps:
                self._adopted.add(pid)
            state, _, group = table[pid]
            if state not in "ZX" and group not in steps:
                found.add(pid)
            todo.extend(children.get(pid, ()))
        self.reap()
        return found

    def reap(self) -> None:
        """Collect the exit status of adopted processes that have ended."""
        for pid in list(self._adopted):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._adopted.discard(pid)

    def close(self) -> None:
        """Stop being a subreaper unless runspec was one before."""
        self.reap()
        if self._prctl is not None and self._was_subreaper == 0:
            self._prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _processes() -> dict[int, tuple[str, int, int]]:
    """Every process ``/proc`` shows: pid -> (state, parent pid, process group)."""
    return process_table() or {}


def process_table() -> dict[int, tuple[str, int, int]] | None:
    """Every process ``/proc`` shows: pid -> (state, parent pid, process group); None
    where there is no ``/proc`` to read."""
    table: dict[int, tuple[str, int, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        state, ppid, group = stat[stat.rfind(b")") + 2 :].split(maxsplit=3)[:3]
        table[int(entry)] = (state.decode("ascii", "replace"), int(ppid), int(group))
    return table
