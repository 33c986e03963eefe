"""How the recipe's code reaches the job: the profile's ``code`` key as a nemo-run packager.

| ``code`` | packager | ships |
|---|---|---|
| unset | ``GitArchivePackager`` | the committed tree (``HEAD``) of the recipe's repository |
| ``"snapshot"`` | :class:`WorkTreePackager` | the work tree as it is: tracked files with their
  uncommitted changes, and untracked files git does not ignore |
| ``"live"`` | ``Packager`` | nothing: the job runs the files where they are (a shared file
  system, or this machine) |

With a shipped tree the job works in its root (``/nemo_run/code`` for nemo-run), the
recipe is named relative to it, and the job config travels in it as
``.runspec/<config file>``. Without one, the job reads the config where runspec wrote it.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runspec.errors import ProfileError

from ._nemo_run import nemo_run

__all__ = ["SHIPPED_CONFIG", "CodePlan", "WorkTreePackager", "code_plan", "git_root"]

SHIPPED_CONFIG = ".runspec"
"""The folder of the shipped tree that holds the job config."""


@dataclass(kw_only=True)
class WorkTreePackager(nemo_run.Packager):  # type: ignore[misc]
    """Ship the files of a git work tree as they are now, uncommitted changes included."""

    root: str = ""
    extra: str = ""
    """A folder whose files are added too, under their path relative to it."""

    def package(self, path: Path, job_dir: str, name: str) -> str:
        """Write ``<job_dir>/<name>.tar.gz`` with every file ``git ls-files`` lists."""
        output = os.path.join(job_dir, f"{name}.tar.gz")
        if os.path.exists(output):
            return output
        root = Path(self.root or path)
        with tarfile.open(output, "w:gz") as archive:
            for relative in work_tree_files(root):
                archive.add(root / relative, arcname=relative, recursive=False)
            if self.extra:
                for item in sorted(Path(self.extra).rglob("*")):
                    if item.is_file():
                        archive.add(item, arcname=str(item.relative_to(self.extra)))
        return output


def work_tree_files(root: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files of the work tree at ``root``."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    files = []
    for relative in dict.fromkeys((listed or "").split("\0")):
        source = root / relative
        if relative and os.path.lexists(source) and (source.is_symlink() or not source.is_dir()):
            files.append(relative)
    return files


@dataclass(frozen=True)
class CodePlan:
    """The packager for a job, the folder nemo-run must start in, and what to tell the user."""

    packager: Any
    root: Path | None
    """The repository root the tree is shipped from; None when nothing is shipped."""
    config: str
    """The job config as the job sees it (what the recipe gets as ``--config``)."""
    notes: tuple[str, ...] = ()

    def script_path(self, script: Path) -> str:
        """The recipe as the job sees it: relative to the shipped tree, else absolute."""
        if self.root is None:
            return str(script)
        return str(script.resolve().relative_to(self.root))


def code_plan(
    code: str | None, script: Path, executor: str, config: Path, local_config: Path
) -> CodePlan:
    """Choose the packager for ``code`` (unset, ``snapshot`` or ``live``).

    A shipped tree carries ``config``, whose folder must be named :data:`SHIPPED_CONFIG`
    (the packager adds it at the tree's root); without one the job reads ``local_config``.
    """
    if code == "live" or executor == "local":
        return CodePlan(nemo_run.Packager(), None, str(local_config))
    root = git_root(script.parent)
    if root is None:
        message = (
            f"the {executor} executor ships the recipe's code from its git repository, and "
            f'{script} is not in one (set code = "live" to run the files where they are)'
        )
        raise ProfileError(message, key="run.env.code")
    if code == "snapshot":
        if executor == "skypilot":
            message = "the skypilot executor ships committed code only (leave code unset)"
            raise ProfileError(message, key="run.env.code")
        packager = WorkTreePackager(root=str(root), extra=str(config.parent.parent))
        return CodePlan(packager, root, _shipped(config))
    notes: tuple[str, ...] = ()
    if _git(root, "status", "--porcelain", "--untracked-files=no"):
        notes = (
            f"{root} has uncommitted changes; the job gets the last commit "
            '(code = "snapshot" ships the work tree as it is)',
        )
    packager = nemo_run.GitArchivePackager(
        basepath=str(root),
        include_pattern=str(config),
        include_pattern_relative_path=str(config.parent.parent),
    )
    return CodePlan(packager, root, _shipped(config), notes)


def _shipped(config: Path) -> str:
    from nemo_run.config import RUNDIR_NAME

    return f"/{RUNDIR_NAME}/code/{SHIPPED_CONFIG}/{config.name}"


def git_root(folder: Path) -> Path | None:
    """The top folder of the git work tree holding ``folder``, or None."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    return Path(top.strip()).resolve() if top else None


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
