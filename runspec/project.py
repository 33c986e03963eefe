"""The project a command works in: its root folder, and runspec's state folder there.

The project root is the first folder, from the current one upwards, that holds a
``pyproject.toml`` or a ``.git`` (the same rule that bounds the search for
``env.toml``); without one, the current folder. runspec keeps its state in
``<root>/.runspec/``: local job folders (``jobs/``) and the discovery index. The
folder is created with a ``.gitignore`` holding ``*``, so git never sees it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["STATE_DIR", "mark_state_dir", "root", "state_dir"]

STATE_DIR = ".runspec"
_MARKERS = ("pyproject.toml", ".git")


def root(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The project root of ``cwd`` (default: the current folder), as an absolute path."""
    here = Path(os.path.abspath(cwd if cwd is not None else os.curdir))
    for folder in (here, *here.parents):
        if any(os.path.exists(folder / marker) for marker in _MARKERS):
            return folder
    return here


def state_dir(project: Path | None = None) -> Path:
    """``<project root>/.runspec`` (not created here)."""
    return (project if project is not None else root()) / STATE_DIR


def mark_state_dir(folder: Path) -> None:
    """Give the ``.runspec`` folder that ``folder`` is (or lies in) a ``.gitignore`` of
    ``*``, if it has none yet; nothing when ``folder`` is not in a ``.runspec`` folder."""
    for candidate in (folder, *folder.parents):
        if candidate.name == STATE_DIR:
            ignore = candidate / ".gitignore"
            if not ignore.exists():
                try:
                    ignore.write_text("*\n", encoding="utf-8")
                except OSError:
                    pass  # a read-only state folder still works; git may list it
            return
