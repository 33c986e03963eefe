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

This module names the files and rewrites a job's image (pure, used by the renderer);
:mod:`.images` renders and submits the squash job.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import SlurmError

if TYPE_CHECKING:
    from ..job import Job

__all__ = [
    "check_image",
    "enroot_uri",
    "guard_lines",
    "is_registry_image",
    "job_name",
    "sqsh_name",
    "sqsh_path",
    "squashed_image",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def is_registry_image(image: str) -> bool:
    """Whether ``image`` names a registry image (not a ``.sqsh`` file or a folder)."""
    return not (image.endswith(".sqsh") or image.startswith(("/", "./", "../", "~")))


_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")


def check_image(image: str) -> str:
    """``image`` when ``runspec squash`` can import it: a registry image's name."""
    if not image.strip():
        raise SlurmError(f"not an image name: {image!r}", key="image")
    if not is_registry_image(image):
        message = "is a file already, not a registry image: a squashing profile runs it as it is"
        raise SlurmError(f"{image!r} {message}", key="image")
    if not _REFERENCE.fullmatch(image):
        example = "a name like nvcr.io/nvidia/nemo:25.11"
        raise SlurmError(f"not a registry image name: {image!r} ({example})", key="image")
    return image


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
