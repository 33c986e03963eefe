"""The ``runspec`` command line, and the recipe CLIs of repositories.

============================  =============================================================
module                        owns
============================  =============================================================
:mod:`.main`                  the ``runspec`` command: :func:`main` and one
                              ``_add_*``/``_cmd_*`` pair per subcommand
:mod:`.toolkit`               :func:`recipe_cli`: a repository's own CLI, one command per
                              recipe
:mod:`.help`                  what ``--help`` of a recipe command shows
:mod:`.display`               pure renderers: job tables, dry-run trees, help pages
:mod:`.jobs`                  ``runspec logs`` of local runs
============================  =============================================================

This file only re-exports; it stays small because every command starts by importing
it. :func:`recipe_cli` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .main import build_parser, main

if TYPE_CHECKING:
    from .toolkit import recipe_cli

__all__ = ["build_parser", "main", "recipe_cli"]


def __getattr__(name: str) -> object:
    """Import :func:`recipe_cli` on first use."""
    if name == "recipe_cli":
        from .toolkit import recipe_cli

        return recipe_cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
