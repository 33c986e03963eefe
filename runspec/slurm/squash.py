"""Container images squashed once into enroot ``.sqsh`` files, and jobs that run from them.

On a pyxis cluster every ``srun --container-image=REGISTRY/IMAGE`` pulls and converts the
image again on each node. ``runspec squash IMAGE -p PROFILE`` does it once, as a Slurm job
on the profile's partition running ``enroot import``, into the profile's cache folder:
``squash_dir`` (a profile key), else ``squash_dir`` of the env.toml's ``[cache]`` section.
The file is named after the image (``nvcr.io/nvidia/nemo:25.11`` gives
``nvcr.io+nvidia+nemo+25.11.sqsh``) and written under a temporary name first, so a
half-written file never counts as done. A profile with ``squash = true`` then runs every
job whose image is a registry image from that file instead, and the job fails at once,
saying how to make the file, when it is missing.

The renderers here are pure; :func:`submit_squash` is the doer.
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

if TYPE_CHECKING:
    from ..job import Job
    from .transport import Transport

__all__ = [
    "SquashJob",
    "enroot_uri",
    "exists",
    "guard_lines",
    "is_registry_image",
    "job_name",
    "plan_squash",
    "render_squash",
    "sqsh_name",
    "sqsh_path",
    "squashed_image",
    "submit_squash",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def is_registry_image(image: str) -> bool:
    """Whether ``image`` names a registry image (not a ``.sqsh`` file or a folder)."""
    return not (image.endswith(".sqsh") or image.startswith(("/", "./", "../", "~")))


def sqsh_name(image: str) -> str:
    """The file name of an image's squash: ``nvcr.io/nvidia/nemo:25.11`` ->
    ``nvcr.io+nvidia+nemo+25.11.sqsh`` (``/``, ``:`` and ``@`` become ``+``)."""
    name = _UNSAFE.sub("_", re.sub(r"[/:@]", "+", image.strip()))
    if not name.strip("._+-"):
        raise SlurmError(f"not an image name: {image!r}", key="image")
    return f"{name}.sqsh"


def enroot_uri(image: str) -> str:
    """What ``enroot import`` takes: ``docker://REGISTRY#PATH:TAG`` (``docker://PATH:TAG``
    for Docker Hub, whose images name no registry)."""
    head, slash, rest = image.partition("/")
    if slash and ("." in head or ":" in head or head == "localhost"):
        return f"docker://{head}#{rest}"
    return f"docker://{image}"


def job_name(image: str) -> str:
    """The name of the job that squashes ``image`` (and of its folder)."""
    return "squash-" + sqsh_name(image).removesuffix(".sqsh")[:80]


def _cache_folder(env: Mapping[str, Any], cache: Mapping[str, Any]) -> str | None:
    for value in (env.get("squash_dir"), cache.get("squash_dir")):
        if isinstance(value, str) and value:
            return value
    return None


def sqsh_path(image: str, env: Mapping[str, Any], cache: Mapping[str, Any]) -> PurePosixPath:
    """Where the squash of ``image`` goes for a profile's ``run.env`` and ``[cache]``."""
    folder = _cache_folder(env, cache)
    if folder is None:
        raise SlurmError(
            "no folder for squashed images: set squash_dir in the profile, or in [cache]",
            key="run.env.squash_dir",
        )
    return PurePosixPath(folder) / sqsh_name(image)


def squashed_image(job: Job) -> str | None:
    """The image a Slurm job runs from: with ``squash = true``, a registry image's
    ``.sqsh`` file; otherwise the image itself (None: no container)."""
    image = job.image
    if not image or job.env.get("squash") is not True or not is_registry_image(str(image)):
        return None if not image else str(image)
    cache = job.config["run"].get("cache") or {}
    return str(sqsh_path(str(image), job.env, cache))


def guard_lines(job: Job) -> list[str]:
    """Batch script lines that stop a squashed job whose ``.sqsh`` file is missing."""
    image = job.image
    squashed = squashed_image(job)
    if not image or squashed == str(image) or squashed is None:
        return []
    message = (
        f"runspec: {squashed} is missing: make it with "
        f"'runspec squash {image} -p {job.profile.name if job.profile else 'PROFILE'}'"
    )
    return [
        f"if [ ! -f {shlex.quote(squashed)} ]; then",
        f"  echo {shlex.quote(message)} >&2",
        "  exit 1",
        "fi",
    ]


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
