"""The squash job: its batch script (pure) and submitting it, for ``runspec squash``.

The job runs ``enroot import`` into ``FILE.partial-JOBID`` and moves the finished file
into place, so a half-written file never counts as made; without ``force`` it does
nothing when the file exists by the time it runs. The file's name and folder are
:mod:`.squash`'s.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from .._environ import ENV_NAME
from ..errors import SlurmError
from .render import (  # the renderer's quoting and masking, shared on purpose
    _directive,
    _env_value,
    _one_line,
    _setup_lines,
    _Text,
)
from .squash import check_image, enroot_uri, job_name, sqsh_path

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
    masked: str
    """The script with the values of secret variables masked, for showing."""

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
    """The batch job that squashes ``image`` into ``target`` (pure: no I/O).

    The profile's ``env_vars``, ``setup`` and ``startup_commands`` come first: enroot
    reads its credentials and cache folders from the environment, and a cluster may need
    a module loaded.
    """
    _one_line(image, "image")
    name = job_name(image)
    text = _Text()
    text.add("#!/bin/bash", *_directives(env, name, folder), "set -euo pipefail")
    _profile_environment(env, text)
    text.add(*_setup_lines(env), "", f"# runspec: squash {image} into {target}")
    text.add(*_import_lines(image, target, force))
    script = "\n".join(text.lines) + "\n"
    return SquashJob(image, target, folder, name, script, "\n".join(text.masked) + "\n")


def _profile_environment(env: Mapping[str, Any], text: _Text) -> None:
    """Export the profile's ``env_vars`` (checked as a job's are)."""
    variables = env.get("env_vars") or {}
    if not isinstance(variables, Mapping):
        raise SlurmError(f"must be a table (got {variables!r})", key="run.env.env_vars")
    if variables:
        text.add("", "# runspec: environment (from the profile)")
    for name, value in variables.items():
        key = f"run.env.env_vars.{name}"
        if not ENV_NAME.fullmatch(str(name)):
            raise SlurmError("not a valid environment variable name", key=key)
        text.export(str(name), _env_value(value, key))


def _import_lines(image: str, target: PurePosixPath, force: bool) -> list[str]:
    """Import into a temporary name and move it into place (skipped when it exists)."""
    partial = '"$target.partial-$SLURM_JOB_ID"'
    lines = [f"target={shlex.quote(_one_line(target, 'squash_dir'))}"]
    if not force:
        lines += [
            'if [ -e "$target" ]; then',
            '  echo "runspec: $target exists already; nothing to do"',
            "  exit 0",
            "fi",
        ]
    return [
        *lines,
        'mkdir -p -- "$(dirname -- "$target")"',
        f"trap 'rm -f -- {partial}' EXIT",
        f"enroot import --output {partial} {shlex.quote(enroot_uri(image))}",
        f'mv -f -- {partial} "$target"',
        'echo "runspec: squashed into $target"',
    ]


def exists(transport: Transport, path: PurePosixPath) -> bool:
    """Whether ``path`` exists on the cluster (asked through the transport)."""
    code, _, _ = transport.run(["test", "-e", str(path)])
    return code == 0


_PLACEMENT = frozenset({
    "executor", "tunnel", "host", "user", "port", "identity", "ssh_options", "remote_job_dir",
    "job_dir", "squash_dir",
})  # fmt: skip
"""The profile keys that say where the squash job and its file go."""
_USED = _PLACEMENT | {
    "partition", "batch_partition", "account", "qos", "time", "env_vars", "setup",
    "startup_commands",
}  # fmt: skip
"""Every profile key the squash job reads: a reference in one of them must resolve."""


def plan_squash(
    image: str, envfile: Any, profile: Any, *, force: bool, create: bool
) -> tuple[SquashJob, Transport, Mapping[str, Any]]:
    """The squash job of ``image`` for an env.toml profile, its transport and its settings.

    The profile's ``${run.env.*}``, ``${run.cache.*}`` and ``${run.job.*}`` references
    are resolved for the squash job (its own name, folder and profile; it has no
    recipe); keys it does not read may hold references it cannot resolve. ``create``
    makes the job folder (over ssh: its staging copy).
    """
    from .cluster import new_job_folder, transport_for

    check_image(image)
    if profile.executor != "slurm":
        message = f"squashing runs a Slurm job: profile {profile.name!r} has executor"
        raise SlurmError(f"{message} {profile.executor!r}, not 'slurm'", key="executor")
    job = {"name": job_name(image), "profile": profile.name}
    env, cache = _resolved(envfile, profile, job, _PLACEMENT)
    target = sqsh_path(image, env, cache)
    folder = new_job_folder(env, job["name"], create=create)
    env, _ = _resolved(envfile, profile, {**job, "dir": str(folder)}, _USED)
    squash = render_squash(image, target, env=env, folder=folder, force=force)
    return squash, transport_for(env), env


def _resolved(
    envfile: Any, profile: Any, job: Mapping[str, str], needed: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The profile's keys and ``[cache]`` resolved for the squash job, key by key: a key
    that cannot be resolved is left out, or is an error when the job needs it."""
    from .. import template
    from ..errors import ProfileError, RunspecError

    cache = dict(envfile.section("cache"))
    namespace = {"run": {"env": dict(profile.values), "cache": cache, "job": dict(job)}}
    resolved: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for table, (section, values) in enumerate(((profile.name, profile.values), ("cache", cache))):
        for key, value in values.items():
            try:
                resolved[table][key] = template.resolve(value, namespace)
            except RunspecError as exc:
                if key not in needed:
                    continue
                line = envfile.line_of((section, key))
                message = f"{exc}, for the squash job"
                raise ProfileError(
                    message, path=envfile.path, line=line, key=f"[{section}].{key}"
                ) from exc
    return resolved


def submit_squash(
    squash: SquashJob, transport: Transport, *, profile: str, argv: list[str]
) -> str:
    """Write the job folder, submit it with ``sbatch``, keep a record; return the job id."""
    from .._files import write_atomic
    from .cluster import job_id_printed, remove_folder

    staged = transport.stage(squash.folder)
    staged.mkdir(parents=True, exist_ok=True)
    command = ["sbatch", "--parsable", str(squash.folder / "sbatch.sh")]
    try:
        write_atomic(staged / "sbatch.sh", squash.script)
        code, out, err = transport.submit([squash.folder], command, None)
        if code != 0:
            raise SlurmError(f"sbatch failed with exit code {code}: {err.strip() or out.strip()}")
        job_id = job_id_printed(out)
    except BaseException:
        transport.discard([squash.folder])
        if staged.is_dir():
            remove_folder(staged)
        raise
    _record(squash, transport, job_id, profile, argv)
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
