"""Recipes by name: ``nano3/pretrain`` wherever a script path is taken.

A word that names an existing file, or ends in ``.py``, is a path, as before. Any other
word is a recipe's name (its ``[tool.runspec] name``; a recipe without one is named by
its path under the root, without ``.py``), looked up by discovery under the project root
(see :mod:`runspec.project`) through the discovery index, so that a lookup costs a
``stat`` per file, not a parse. An unknown or ambiguous name is an error that lists the
candidates, nearest first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RunspecError

if TYPE_CHECKING:
    from .discovery import RecipeEntry

__all__ = ["Named", "is_path", "nearest", "recipe_name", "resolve"]

_SHOWN = 5  # candidates an error lists


def is_path(word: str) -> bool:
    """Whether ``word`` is a script path rather than a recipe name."""
    return word.endswith(".py") or os.path.isfile(word)


class Named:
    """The recipes under one root, by name."""

    def __init__(self, root: Path, entries: Sequence[RecipeEntry]) -> None:
        self.root = root
        self.by_name: dict[str, list[str]] = {}
        for entry in entries:
            self.by_name.setdefault(recipe_name(entry, root), []).append(entry.path)

    @classmethod
    def under(cls, root: Path) -> Named:
        """The recipes under ``root``, through the discovery index."""
        from .discovery import recipes

        return cls(root, recipes(root))

    def path(self, name: str) -> str:
        """The script of recipe ``name``; an error naming the candidates when there is not
        exactly one."""
        paths = self.by_name.get(name.strip("/"), [])
        if len(paths) == 1:
            return paths[0]
        if paths:
            listed = ", ".join(sorted(paths))
            raise RunspecError(f"recipe name {name!r} is ambiguous under {self.root}: {listed}")
        raise RunspecError(self.unknown(name))

    def unknown(self, name: str) -> str:
        """The error for a name no recipe has: the nearest names first."""
        if not self.by_name:
            return f"no recipe named {name!r}: there are no recipes under {self.root}"
        shown = nearest(name, list(self.by_name))[:_SHOWN]
        more = len(self.by_name) - len(shown)
        tail = f", and {more} more ('runspec list {self.root}')" if more > 0 else ""
        return f"no recipe named {name!r} under {self.root} (nearest: {', '.join(shown)}{tail})"


def recipe_name(entry: RecipeEntry, root: Path) -> str:
    """A recipe's name: as declared, else its path under ``root`` without ``.py``."""
    if entry.name:
        return entry.name.strip("/")
    relative = os.path.relpath(entry.path, root)
    return relative.removesuffix(".py").replace(os.sep, "/")


def nearest(word: str, names: Sequence[str]) -> list[str]:
    """``names`` ordered by likeness to ``word``, the nearest first (ties by name)."""
    from difflib import SequenceMatcher

    def likeness(name: str) -> float:
        whole = SequenceMatcher(None, word, name).ratio()
        last = SequenceMatcher(None, word.rsplit("/", 1)[-1], name.rsplit("/", 1)[-1]).ratio()
        return max(whole, last * 0.9)

    return sorted(names, key=lambda name: (-likeness(name), name))


def resolve(word: str, root: Path | None = None) -> str:
    """The script ``word`` stands for: itself when it is a path, else the recipe of that
    name under ``root`` (default: the project root)."""
    if is_path(word):
        return word
    from .project import root as project_root

    named = Named.under(root or project_root())
    if word.strip("/") not in named.by_name and os.path.exists(word):
        return word  # a folder, say: the command says what is wrong with it
    return named.path(word)
