"""The squash job: its batch script (pure) and submitting it, for ``runspec squash``.

The job runs ``enroot import`` into ``FILE.partial-JOBID`` and moves the finished file
into place, so a half-written file never counts as made; without ``force`` it does
nothing when the file exists by the time it runs. The file's name and folder are
:mod:`.squash`'s.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import SlurmError
from .render import _directive, _one_line  # the renderer's quoting, shared on purpose
from .squash import enroot_uri, job_name, sqsh_path

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["SquashJob", "exists", "plan_squash", "render_squash", "submit_squash"]


@dataclass(frozen=True)
class SquashJob:
    """A squash to run: the image, the file it makes, and the batch job that makes it."""

    image: str
    target: PurePosixPath
    folder: PurePath
    """The job folder (on the cluster)."""
    name: str
    script: str

    @property
    def outputs(self) -> tuple[PurePath, PurePath]:
        """The job's stdout and stderr files."""
        return self.folder / f"{self.name}-%j.out", self.folder / f"{self.name}-%j.err"


def _directives(env: Mapping[str, Any], name: str, folder: PurePath) -> list[str]:
    partition = env.get("batch_partition") or env.get("partition")
    options: list[tuple[str, object]] = [("job-name", name)]
    for option, value in (("partition", partition), ("account", env.get("account")),
                          ("qos", env.get("qos")), ("time", env.get("time"))):  # fmt: skip
        if value:
            options.append((option, value))
    options += [("nodes", 1), ("ntasks", 1)]
    options += [("output", folder / f"{name}-%j.out"), ("error", folder / f"{name}-%j.err")]
    return [_directive(option, _one_line(value, f"run.env.{option}")) for option, value in options]


def render_squash(
    image: str, target: PurePosixPath, *, env: Mapping[str, Any], folder: PurePath, force: bool
) -> SquashJob:
    """The batch job that squashes ``image`` into ``target`` (pure: no I/O)."""
    _one_line(image, "image")
    name = job_name(image)
    partial = '"$target.partial-$SLURM_JOB_ID"'
    body = [
        "#!/bin/bash", *_directives(env, name, folder), "set -euo pipefail", "",
        f"# runspec: squash {image} into {target}",
        f"target={shlex.quote(_one_line(target, 'squash_dir'))}",
    ]  # fmt: skip
    if not force:
        body += [
            'if [ -e "$target" ]; then',
            '  echo "runspec: $target exists already; nothing to do"',
            "  exit 0",
            "fi",
        ]
    body += [
        'mkdir -p -- "$(dirname -- "$target")"',
        f"trap 'rm -f -- {partial}' EXIT",
        f"enroot import --output {partial} {shlex.quote(enroot_uri(image))}",
        f'mv -f -- {partial} "$target"',
        'echo "runspec: squashed into $target"',
    ]
    return SquashJob(image, target, folder, name, "\n".join(body) + "\n")


def exists(transport: Transport, path: PurePosixPath) -> bool:
    """Whether ``path`` exists on the cluster (asked through the transport)."""
    code, _, _ = transport.run(["test", "-e", str(path)])
    return code == 0


def plan_squash(
    image: str, envfile: Any, profile: Any, *, force: bool, create: bool
) -> tuple[SquashJob, Transport, Mapping[str, Any]]:
    """The squash job of ``image`` for an env.toml profile, its transport and its settings.

    The profile's ``${run.env.*}`` and ``${run.cache.*}`` references are resolved
    against itself; ``create`` makes the job folder (over ssh: its staging copy).
    """
    from .. import template
    from .cluster import new_job_folder, transport_for

    if profile.executor != "slurm":
        message = f"squashing runs a Slurm job: profile {profile.name!r} has executor"
        raise SlurmError(f"{message} {profile.executor!r}, not 'slurm'", key="executor")
    cache = dict(envfile.section("cache"))
    namespace = {"run": {"env": dict(profile.values), "cache": cache}}
    env = template.resolve(dict(profile.values), namespace)
    cache = template.resolve(cache, namespace)
    target = sqsh_path(image, env, cache)
    folder = new_job_folder(env, job_name(image), create=create)
    squash = render_squash(image, target, env=env, folder=folder, force=force)
    return squash, transport_for(env), env


def submit_squash(
    squash: SquashJob, transport: Transport, *, profile: str, argv: list[str]
) -> str:
    """Write the job folder, submit it with ``sbatch``, keep a record; return the job id."""
    from .._files import write_atomic
    from .cluster import remove_folder

    staged = transport.stage(squash.folder)
    staged.mkdir(parents=True, exist_ok=True)
    command = ["sbatch", "--parsable", str(squash.folder / "sbatch.sh")]
    try:
        write_atomic(staged / "sbatch.sh", squash.script)
        code, out, err = transport.submit([squash.folder], command, None)
        if code != 0:
            raise SlurmError(f"sbatch failed with exit code {code}: {err.strip() or out.strip()}")
        job_id = _job_id(out)
    except BaseException:
        transport.discard([squash.folder])
        if staged.is_dir():
            remove_folder(staged)
        raise
    _record(squash, transport, job_id, profile, argv)
    return job_id


def _job_id(out: str) -> str:
    lines = out.strip().splitlines()
    job_id = lines[-1].split(";")[0].strip() if lines else ""
    if not re.fullmatch(r"[0-9]+(?:_[0-9]+)?", job_id):
        raise SlurmError(f"sbatch printed no job id (got {out.strip()!r})")
    return job_id


def _record(
    squash: SquashJob, transport: Transport, job_id: str, profile: str, argv: list[str]
) -> None:
    import json
    import os
    import time

    from .._files import write_atomic
    from .._masking import masked_argv

    out, err = (str(path).replace("%j", job_id) for path in squash.outputs)
    record = {
        "argv": masked_argv(argv), "name": squash.name, "recipe": f"squash {squash.image}",
        "profile": profile, "executor": "slurm", "job_id": job_id,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cwd": os.getcwd(),
        "batch_script": str(squash.folder / "sbatch.sh"),
        "output": {"stdout": out, "stderr": err},
        "squash": {"image": squash.image, "file": str(squash.target)},
        **transport.record_fields(),
    }  # fmt: skip
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    write_atomic(transport.stage(squash.folder) / "runspec.json", text)
