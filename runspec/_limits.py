"""Limits on the documents runspec reads: how deep they nest, how large their integers are.

Recipes, env.toml files, configs and override values are trees that runspec walks
recursively (merging, resolving references, masking, saving as JSON). A tree nested
deeper than :data:`MAX_DEPTH` is refused when it is read, with one line naming the
file, rather than failing later with a recursion error. The check itself walks the
tree with an explicit stack, so any depth is safe to check.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "TOML_INT", "digits_limit", "tree_problem"]

MAX_DEPTH = 100
"""How many tables and arrays may nest inside each other."""

TOML_INT = 2**63
"""TOML integers are 64-bit signed: -2**63 <= n < 2**63."""


def digits_limit() -> int:
    """The most digits Python converts between an int and text (0: no limit)."""
    limit: int = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    return limit


def tree_problem(data: Any, *, toml: bool = False) -> str | None:
    """Why ``data`` is refused (too deep; with ``toml``, an integer out of range), or None."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            if toml and _out_of_range(node):
                return "integer out of range (TOML integers are 64-bit)"
            continue
        if depth >= MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        stack.extend((child, depth + 1) for child in children)
    return None


def _out_of_range(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and not (
        -TOML_INT <= value < TOML_INT
    )
