"""Pinned sources: ``${auto_mount:git+URL@REF,TARGET}`` entries in ``run.env.mounts``.

A pin names a git repository at a commit, branch or tag, and the folder where the
job's container sees it. When a job is submitted, :func:`ensure` makes sure a
checkout of that commit exists in the git cache (``[cache] git_dir`` of env.toml,
else ``~/.cache/runspec/git``) and the mount becomes ``CHECKOUT:TARGET:ro``.

The cache holds one folder per repository (``<name>-<hash of the URL>``) with a
mirror clone (``repo.git``, cloned once; fetched only when a ref is missing from it)
and one checkout per resolved commit (``<commit>/``). Checkouts and the mirror are
built under temporary names and renamed into place, and each repository's folder is
changed only under an exclusive lock, so submissions that race share one clone.

:func:`plan` shows where a mount would come from without cloning anything (for
``sbatch`` and ``--dry-run``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .job import Job

__all__ = ["Pin", "cache_dir", "ensure", "local_notes", "pins", "placed", "plan"]

_PIN = re.compile(
    r"\$\{auto_mount:\s*git\+(?P<url>[^,}]+)@(?P<ref>[^,@}]+)\s*,\s*(?P<target>[^,}]+?)\s*\}"
)
_COMMIT = re.compile(r"[0-9a-f]{40}")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


@dataclass(frozen=True)
class Pin:
    """One ``${auto_mount:git+URL@REF,TARGET}``: a repository at a ref, mounted at TARGET."""

    url: str
    ref: str
    target: str
    text: str

    @classmethod
    def parse(cls, text: str, key: str) -> Pin | None:
        """The pin ``text`` writes; None when it is no ``${auto_mount:...}``."""
        if not text.startswith("${auto_mount:"):
            return None
        match = _PIN.fullmatch(text.strip())
        if match is None or not match.group("target").startswith("/"):
            message = f"bad auto_mount {text!r} (expected ${{auto_mount:git+URL@REF,/TARGET}})"
            raise ConfigError(message, key=key)
        return cls(match.group("url"), match.group("ref"), match.group("target"), text)

    @property
    def slug(self) -> str:
        """The repository's folder in the cache: its name and a hash of its URL."""
        import hashlib

        name = re.sub(r"\.git$", "", self.url.rstrip("/").rsplit("/", 1)[-1])
        digest = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:12]
        return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name) or 'repo'}-{digest}"

    def mount(self, checkout: Path) -> str:
        """The container mount of ``checkout`` at this pin's target, read-only."""
        return f"{checkout}:{self.target}:ro"


def pins(env: Mapping[str, Any]) -> list[tuple[int, Pin]]:
    """(index, pin) of every ``${auto_mount:...}`` in ``run.env.mounts``."""
    mounts = env.get("mounts")
    if not isinstance(mounts, list):
        return []
    found = []
    for index, item in enumerate(mounts):
        pin = Pin.parse(item, f"run.env.mounts.{index}") if isinstance(item, str) else None
        if pin is not None:
            found.append((index, pin))
    return found


def cache_dir(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Path:
    """The git cache: ``run.cache.git_dir`` (``[cache] git_dir``), else ``~/.cache/runspec/git``."""
    from .interpolation import resolve_job_value

    env = os.environ if environ is None else environ
    raw = (config.get("run", {}).get("cache") or {}).get("git_dir")
    if isinstance(raw, str) and raw:
        value = resolve_job_value(raw, "run.cache.git_dir", env)
        return Path(os.path.abspath(os.path.expanduser(str(value))))
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path(os.path.expanduser("~"), ".cache")
    return root / "runspec" / "git"


def plan(pin: Pin, cache: Path) -> tuple[Path, bool]:
    """(checkout folder, whether it exists) for ``pin``, without cloning or fetching.

    A branch or tag is resolved from the cache's mirror when it has one; otherwise the
    folder is named for the ref until submission resolves it.
    """
    root = cache / pin.slug
    commit = pin.ref if _COMMIT.fullmatch(pin.ref) else None
    if commit is None and (root / "repo.git").is_dir():
        commit = _resolve(root / "repo.git", pin.ref)
    folder = root / (commit or re.sub(r"[^A-Za-z0-9._-]+", "-", pin.ref))
    return folder, commit is not None and folder.is_dir()


def ensure(pin: Pin, cache: Path) -> Path:
    """The checkout of ``pin``'s commit in ``cache``, cloned and checked out if needed."""
    root = cache / pin.slug
    if _COMMIT.fullmatch(pin.ref) and (root / pin.ref).is_dir():
        return root / pin.ref
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the git cache: {exc.strerror}", path=root) from None
    with _locked(root / ".lock"):
        mirror = root / "repo.git"
        if not mirror.is_dir():
            _build(mirror, lambda tmp: _git(pin, None, "clone", "--mirror", "-q", pin.url, tmp))
        commit = _resolve(mirror, pin.ref)
        if commit is None:
            _git(pin, mirror, "fetch", "--quiet", "--prune", "origin")
            commit = _resolve(mirror, pin.ref)
        if commit is None and _COMMIT.fullmatch(pin.ref):
            _git(pin, mirror, "fetch", "--quiet", "origin", pin.ref)
            commit = _resolve(mirror, pin.ref)
        if commit is None:
            raise ConfigError(f"{pin.url} has no ref {pin.ref!r}", key="run.env.mounts")
        folder = root / commit
        if not folder.is_dir():
            _build(folder, lambda tmp: _checkout(pin, mirror, commit, tmp))
    return folder


def _checkout(pin: Pin, mirror: Path, commit: str, folder: str) -> None:
    _git(pin, None, "clone", "--quiet", "--no-checkout", str(mirror), folder)
    _git(pin, Path(folder), "checkout", "--quiet", "--detach", commit)


def _build(target: Path, make: Callable[[str], None]) -> None:
    """Make ``target`` by ``make(temporary path)``, then rename it into place."""
    import shutil

    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        make(str(temporary))
        os.rename(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (waits for other runspec processes)."""
    import fcntl

    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _resolve(mirror: Path, ref: str) -> str | None:
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(mirror), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True, text=True, env={**os.environ, **_GIT_ENV}, check=False,
    )  # fmt: skip
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and _COMMIT.fullmatch(commit) else None


def _git(pin: Pin, folder: Path | None, *args: str) -> None:
    import subprocess

    where = ["-C", str(folder)] if folder is not None else []
    try:
        done = subprocess.run(
            ["git", *where, *args], capture_output=True, text=True,
            env={**os.environ, **_GIT_ENV}, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise ConfigError(f"cannot run git: {exc.strerror}", key="run.env.mounts") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        message = f"git {args[0]} of {pin.url}@{pin.ref} failed: {reason}"
        raise ConfigError(message, key="run.env.mounts")


def placed(
    job: Job, *, fetch: bool, environ: Mapping[str, str] | None = None
) -> tuple[Job, tuple[str, ...]]:
    """``job`` with each pin in its mounts replaced by ``CHECKOUT:TARGET:ro``, and notes.

    With ``fetch`` (submitting) the checkouts are made now; without it (``sbatch``,
    ``--dry-run``) nothing is cloned, and a note says which pins are not checked out yet.
    """
    found = pins(job.env)
    if not found:
        return job, ()
    cache = cache_dir(job.config, environ)
    mounts, notes = list(job.env["mounts"]), []
    for index, pin in found:
        if fetch:
            folder = ensure(pin, cache)
        else:
            folder, ready = plan(pin, cache)
            if not ready:
                notes.append(
                    f"run.env.mounts.{index}: {pin.url}@{pin.ref} is not checked out in"
                    f" {cache} yet; submitting the job clones it"
                )
        mounts[index] = pin.mount(folder)
    run = {**job.config["run"], "env": {**job.env, "mounts": mounts}}
    return replace(job, config={**job.config, "run": run}), tuple(notes)


def local_notes(job: Job) -> tuple[str, ...]:
    """Why a local run cannot place its pins (it has no container to mount them in)."""
    return tuple(
        f"cannot place {pin.target} ({pin.url}@{pin.ref}): a local run has no container"
        " to mount it in, so the job sees what this machine has there"
        for _, pin in pins(job.env)
    )
