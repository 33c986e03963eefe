"""``extends`` chains of env.toml profiles, every one walked once.

:func:`link_profiles` follows each profile's ``extends`` to its root, or to where the
chain breaks (an ``extends`` that is no string, names a reserved section or an
unknown profile, or closes a cycle), sharing the walk between profiles: a file of
``n`` profiles costs ``O(n)`` however long its chains are. Messages about long
chains name their first and last profiles only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Break", "Link", "chain_of", "chain_text", "link_profiles"]

_SHOWN = 7  # chains longer than this are shown as their first 3 and last 3 names


@dataclass(frozen=True)
class Break:
    """Where and why a chain stops short of a root.

    ``kind`` is ``type`` (``extends`` is no string), ``reserved``, ``unknown`` or
    ``cycle``; ``profile`` is the profile whose ``extends`` is at fault (for a cycle,
    the first profile of the cycle that the walk reaches); ``target`` is the value of
    that ``extends``. A cycle also carries its profiles in order and where
    ``profile`` stands in them.
    """

    kind: str
    profile: str
    target: object
    cycle: tuple[str, ...] = ()
    index: int = 0


@dataclass(frozen=True)
class Link:
    """One profile's place in its chain: its parent, how many profiles the chain has
    from it to its root (or to its break, inclusive), and the break, if any."""

    parent: str | None
    size: int
    broken: Break | None


def link_profiles(
    names: Sequence[str], extends: Callable[[str], object], reserved: Collection[str]
) -> dict[str, Link]:
    """The :class:`Link` of every profile in ``names``; ``extends(name)`` is its raw value."""
    known = set(names)
    links: dict[str, Link] = {}
    for start in names:
        path: list[str] = []
        seen: dict[str, int] = {}
        node: str | None = start
        stop: Break | None = None
        while node is not None and node not in links:
            if node in seen:
                cycle = tuple(path[seen[node] :])
                for index, member in enumerate(cycle):
                    brk = Break("cycle", member, _next(cycle, index), cycle, index)
                    links[member] = Link(_next(cycle, index), len(cycle), brk)
                path = path[: seen[node]]
                break
            seen[node] = len(path)
            path.append(node)
            target = extends(node)
            stop = _fault(node, target, known, reserved)
            if stop is not None:
                links[node] = Link(None, 1, stop)
                path.pop()
                break
            node = target if isinstance(target, str) else None
        for member in reversed(path):
            parent = extends(member)
            if isinstance(parent, str):
                above = links[parent]
                links[member] = Link(parent, above.size + 1, above.broken)
            else:
                links[member] = Link(None, 1, None)
    return links


def _next(cycle: tuple[str, ...], index: int) -> str:
    return cycle[(index + 1) % len(cycle)]


def _fault(
    name: str, target: object, known: Collection[str], reserved: Collection[str]
) -> Break | None:
    if target is None:
        return None
    if not isinstance(target, str):
        return Break("type", name, target)
    if target in reserved:
        return Break("reserved", name, target)
    if target not in known:
        return Break("unknown", name, target)
    return None


def chain_of(name: str, links: Mapping[str, Link]) -> tuple[str, ...]:
    """The profiles of ``name``'s chain, itself first (its chain must not be broken)."""
    chain = [name]
    while (parent := links[chain[-1]].parent) is not None:
        chain.append(parent)
    return tuple(chain)


def chain_text(start: str, links: Mapping[str, Link]) -> str:
    """How a message shows the broken chain of ``start``: ``a -> b -> c``.

    A cycle is shown from the profile where it is entered and back to it; any other
    break from ``start`` to the missing or reserved profile.
    """
    broken = links[start].broken
    assert broken is not None and broken.kind in ("cycle", "unknown")
    if broken.kind == "cycle":
        size, cycle, at = len(broken.cycle), broken.cycle, broken.index
        if size + 1 <= _SHOWN:
            return " -> ".join((*cycle[at:], *cycle[:at], broken.profile))
        first = [cycle[(at + step) % size] for step in range(3)]
        last = [cycle[(at - step) % size] for step in (2, 1)]
        return " -> ".join((*first, "...", *last, broken.profile))
    size = links[start].size
    if size + 1 <= _SHOWN:
        return " -> ".join((*_walk(start, links, size), str(broken.target)))
    first = _walk(start, links, 3)
    return " -> ".join((*first, "...", broken.profile, str(broken.target)))


def _walk(start: str, links: Mapping[str, Link], steps: int) -> list[str]:
    names = [start]
    while len(names) < steps:
        parent = links[names[-1]].parent
        assert parent is not None
        names.append(parent)
    return names
