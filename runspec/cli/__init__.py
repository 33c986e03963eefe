"""The ``runspec`` command line.

:mod:`.main` holds the ``runspec`` command: :func:`main` and one ``_add_*``/``_cmd_*``
pair per subcommand. This file only re-exports; it stays small because every
command starts by importing it.
"""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
