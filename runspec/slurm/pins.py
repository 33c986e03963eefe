"""Pinned sources of a job sent over ssh, checked out on the cluster.

A pin (``${auto_mount:git+URL@REF,TARGET}``, see :mod:`runspec.auto_mount`) is mounted
into the job's container from a checkout that compute nodes must see. Over ssh that
checkout is made on the cluster, by the login node's ``git``, in the same cache layout a
login node uses: ``[cache] git_dir`` of env.toml (a folder on the cluster), else
``<remote_job_dir>/.runspec/git``. So with ``git_dir`` set, one env.toml gives the same
mounts whether a job is submitted on the login node or from a workstation, and both share
one cache; nothing of the pinned repository crosses the workstation's network.

All pins of a job are checked out by one remote command. Mirrors and checkouts are built
under temporary names and renamed into place, under ``flock`` where the login node has it;
without it, two submissions racing for one checkout keep the first and drop the other.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from ..errors import ConfigError, SlurmError

if TYPE_CHECKING:
    from ..auto_mount import Pin
    from ..job import Job
    from .remote import SshTransport

__all__ = ["check_out", "cluster_cache", "describe", "placed"]

_NO_GIT, _NO_FOLDER, _GIT_FAILED, _NO_REF = 120, 121, 122, 123

# $1 the cache; then (slug, url, ref) per pin. Prints "runspec-pin <commit>" per pin done;
# on a failure, the verb of the git command that failed (stdout) and what git said
# (stderr). The same layout as runspec.auto_mount: <slug>/repo.git and <slug>/<commit>.
_CHECKOUT = """\
cache=$1
shift
export GIT_TERMINAL_PROMPT=0 GIT_ASKPASS= SSH_ASKPASS=
command -v git >/dev/null 2>&1 || exit 120
run() {
    verb=$1
    shift
    said=$("$@" 2>&1) || { echo "$verb"; printf "%s\\n" "$said" >&2; exit 122; }
}
place() {
    mv -- "$1" "$2" 2>/dev/null
    rm -rf -- "$1" "$2/${1##*/}"
}
resolve() {
    git -C "$root/repo.git" rev-parse --verify --quiet "$ref^{commit}" 2>/dev/null
}
while [ "$#" -ge 3 ]; do
    root=$cache/$1 url=$2 ref=$3
    shift 3
    said=$(mkdir -p -- "$root" 2>&1) || { printf "%s\\n" "$said" | tail -n 1 >&2; exit 121; }
    if command -v flock >/dev/null 2>&1; then exec 9>"$root/.lock" && flock 9; fi
    if [ ! -d "$root/repo.git" ]; then
        rm -rf -- "$root/.repo.git.$$.tmp"
        run clone git clone --mirror -q -- "$url" "$root/.repo.git.$$.tmp"
        place "$root/.repo.git.$$.tmp" "$root/repo.git"
    fi
    commit=$(resolve)
    if [ -z "$commit" ]; then
        run fetch git -C "$root/repo.git" fetch --quiet --prune origin
        commit=$(resolve)
    fi
    case $ref in *[!0-9a-f]*) ;; *)
        if [ -z "$commit" ] && [ "${#ref}" -eq 40 ]; then
            run fetch git -C "$root/repo.git" fetch --quiet origin "$ref"
            commit=$(resolve)
        fi ;;
    esac
    [ -n "$commit" ] || exit 123
    if [ ! -d "$root/$commit" ]; then
        rm -rf -- "$root/.$commit.$$.tmp"
        run checkout git clone --quiet --no-checkout -- "$root/repo.git" "$root/.$commit.$$.tmp"
        run checkout git -C "$root/.$commit.$$.tmp" checkout --quiet --detach "$commit"
        place "$root/.$commit.$$.tmp" "$root/$commit"
    fi
    echo "runspec-pin $commit"
done
"""


def cluster_cache(job: Job, job_root: PurePosixPath) -> PurePosixPath:
    """The git cache on the cluster: ``[cache] git_dir``, else ``<remote_job_dir>/.runspec/git``.

    A folder on the cluster cannot be made absolute here, so it must be written absolute.
    """
    from ..interpolation import resolve_job_value

    raw = (job.config.get("run", {}).get("cache") or {}).get("git_dir")
    if not (isinstance(raw, str) and raw):
        return job_root / ".runspec" / "git"
    value = str(resolve_job_value(raw, "run.cache.git_dir"))
    if not value.startswith("/"):
        message = "over ssh the git cache is a folder on the cluster and must be absolute"
        raise ConfigError(f"{message} (got {value!r})", key="run.cache.git_dir")
    return PurePosixPath(posixpath.normpath(value))


def placed(job: Job, transport: SshTransport, *, submitting: bool) -> tuple[Job, tuple[str, ...]]:
    """``job`` with each pin in its mounts replaced by its checkout on the cluster, and notes.

    ``submitting``: the checkouts are made now, through ``transport``. Otherwise (``sbatch``,
    ``--dry-run``) nothing connects: a commit's folder is named for it, a branch's or tag's
    for the ref, and a note says where the checkout will be made.
    """
    from ..auto_mount import pins

    found = pins(job.env)
    if not found:
        return job, ()
    cache = cluster_cache(job, transport.target.job_root)
    host, notes = transport.target.host, []
    if submitting:
        commits = check_out(transport, found, cache)
    else:
        commits = [_planned(pin.ref) for _, pin in found]
        notes = [
            f"run.env.mounts.{index}: {pin.url}@{pin.ref} is checked out on {host} in {cache}"
            " when the job is submitted"
            for index, pin in found
        ]
    mounts = list(job.env["mounts"])
    for (index, pin), commit in zip(found, commits, strict=True):
        mounts[index] = f"{cache / pin.slug / commit}:{pin.target}:ro"
    run = {**job.config["run"], "env": {**job.env, "mounts": mounts}}
    return replace(job, config={**job.config, "run": run}), tuple(notes)


def _planned(ref: str) -> str:
    """A checkout's folder name before the ref is resolved: the commit, else the ref."""
    return ref if re.fullmatch(r"[0-9a-f]{40}", ref) else re.sub(r"[^A-Za-z0-9._-]+", "-", ref)


def check_out(
    transport: SshTransport, found: Sequence[tuple[int, Pin]], cache: PurePosixPath
) -> list[str]:
    """Make the checkout of each (mounts index, pin) in ``cache`` on the cluster, in one
    remote command; their commits, in order."""
    status, out, err = transport.ssh.run_bytes(_argv(found, cache), timeout=3600)
    text = out.decode("utf-8", "replace")
    commits = re.findall(r"^runspec-pin ([0-9a-f]{40})$", text, re.M)
    if status == 0 and len(commits) == len(found):
        return commits
    index, pin = found[min(len(commits), len(found) - 1)]
    message = _failure(status, pin, text, _reason(err), transport.target.host, cache)
    raise SlurmError(message, key=f"run.env.mounts.{index}")


def describe(job: Job, transport: SshTransport) -> list[str]:
    """The command that would check out ``job``'s pins on the cluster (for ``--dry-run``)."""
    import shlex

    from ..auto_mount import pins

    found = pins(job.env)
    if not found:
        return []
    cache = cluster_cache(job, transport.target.job_root)
    return [
        f"# {transport.target.host}: the pinned sources are checked out there first, in {cache}:",
        shlex.join(transport.ssh.argv(_argv(found, cache))),
    ]


def _argv(found: Sequence[tuple[int, Pin]], cache: PurePosixPath) -> list[str]:
    words = [word for _, pin in found for word in (pin.slug, pin.url, pin.ref)]
    return ["sh", "-c", _CHECKOUT, "runspec-pins", str(cache), *words]


def _reason(err: bytes) -> str:
    """The line that says why git failed: its first ``fatal:`` or ``error:``, else the last."""
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    said = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (said or lines or [""])[0 if said else -1]


def _failure(status: int, pin: Pin, out: str, said: str, host: str, cache: PurePosixPath) -> str:
    if status == _NO_GIT:
        return f"git not found on the PATH of {host} (pinned sources are checked out there)"
    if status == _NO_FOLDER:
        return f"cannot create the git cache {cache} on {host}: {said}"
    if status == _NO_REF:
        return f"{pin.url} has no ref {pin.ref!r} (looked up on {host})"
    if status == _GIT_FAILED:
        verb = out.strip().splitlines()[-1] if out.strip() else "git"
        return f"git {verb} of {pin.url}@{pin.ref} failed on {host}: {said}"
    return f"checking out {pin.url}@{pin.ref} on {host} failed with exit code {status}: {said}"
