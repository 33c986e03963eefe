"""A job: a recipe with its profile, its assembled config, and its folder and record.

:func:`assemble` builds the job config a recipe receives: the chosen config file,
a ``run`` section (``run.env`` the profile, ``run.recipe``, ``run.config``,
``run.job``, and the reserved env.toml sections), command-line overrides, then
every ``${run.*}`` reference resolved. ``runspec config --json`` prints exactly
what :meth:`Job.write` saves.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import template
from ._files import write_atomic
from ._limits import tree_problem
from ._masking import has_secrets, masked_argv
from ._merge import deep_merge, json_ready
from .config import find_config, load_config
from .errors import (
    ConfigError,
    OverrideError,
    PipelineError,
    ProfileError,
    SpecError,
    TemplateError,
    location,
)
from .interpolation import resolve_job_keys, resolve_job_value
from .overrides import Override, apply_overrides
from .profiles import (
    KNOWN_KEYS,
    RESERVED,
    EnvFile,
    Profile,
    find_env_file,
    integration_keys,
    key_warnings,
    unknown_key,
    value_error,
)
from .project import mark_state_dir
from .runenv import RunEnv, image_of
from .spec import Runspec

__all__ = [
    "Job",
    "assemble",
    "discard_dir",
    "job_name",
    "new_job_dir",
    "probe_git",
    "select_profile",
    "write_record",
]

JobDir = Callable[[Mapping[str, Any]], "Path | None"]
YAML_FORMATS = ("yaml", "omegaconf")
"""Recipe config formats whose job config is saved as ``config.yaml``."""


@dataclass(frozen=True)
class Job:
    """A recipe ready to run: its spec, profile, resolved job config and job folder."""

    spec: Runspec
    profile: Profile | None
    config_path: Path
    config: Mapping[str, Any]
    name: str
    dir: Path | None
    overrides: tuple[Override, ...] = ()
    env_origins: Mapping[tuple[str, ...], str] = field(default_factory=lambda: _EMPTY)
    """Where each leaf of ``run.env`` came from (see :class:`runspec.runenv.RunEnv`)."""
    warnings: tuple[str, ...] = ()
    """What assembling the job found worth telling the user."""
    absent: tuple[str, ...] = ()
    """Optional env.toml sections the env file lacks (``${run.wandb.x}`` is then null)."""

    @property
    def env(self) -> Mapping[str, Any]:
        """The resolved ``run.env``, with ``nodes`` and ``gpus_per_node`` filled in."""
        run: Mapping[str, Any] = self.config["run"]
        env: Mapping[str, Any] = run["env"]
        return env

    @property
    def executor(self) -> str:
        """Where the job runs: ``local``, ``slurm``, or an executor of the nemo-run extra."""
        return str(self.env.get("executor", "local"))

    @property
    def image(self) -> Any:
        """The container image: ``run.env``'s ``container_image``/``container``, else the
        recipe's ``image`` (None: no container)."""
        recipe: Mapping[str, Any] = self.config["run"].get("recipe", {})
        return image_of(self.env) or recipe.get("image", self.spec.image)

    @property
    def config_file(self) -> Path:
        """The saved job config: ``config.yaml`` for YAML recipes, else ``config.json``."""
        if self.dir is None:
            raise ValueError("this job has no folder")
        yaml = self.spec.config.format in YAML_FORMATS
        return self.dir / ("config.yaml" if yaml else "config.json")

    def resolve(self, value: Any) -> Any:
        """``value`` with its ``${run.*}`` references resolved against the job config."""
        return template.resolve(value, self.config, absent=self.absent, final=True)

    def config_document(self, config: Mapping[str, Any] | None = None) -> str:
        """The job config (or ``config``, e.g. a masked copy) as saved: YAML or JSON text."""
        data = self.config if config is None else config
        if self.spec.config.format in YAML_FORMATS:
            return _yaml_text(data, self.config_path)
        return config_text(data)

    def write_config(self) -> Path:
        """Write the job config into the job folder (atomically) and return its path."""
        path = self.config_file
        mode = 0o600 if has_secrets(self.config) else 0o644
        _write(path, self.config_document(), mode, "the job config")
        return path


_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def config_text(config: Mapping[str, Any]) -> str:
    """A job config as JSON text (what ``runspec config --json`` prints)."""
    import json

    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def _yaml_text(config: Mapping[str, Any], path: Path) -> str:
    from ._extras import calling_extra, import_extra

    module = import_extra(
        "runspec_extras.omegaconf_config", "omegaconf", "saving a YAML job config", path
    )
    with calling_extra(path):
        text: str = module.dump_config(dict(config))
    return text


def job_name(spec: Runspec) -> str:
    """A name safe for folders and Slurm: the recipe name with unsafe characters as ``-``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", spec.name).strip("-.")
    return safe or re.sub(r"[^A-Za-z0-9._-]+", "-", spec.script_path.stem) or "job"


def new_job_dir(parent: Path, leaf: str) -> Path:
    """Create a fresh folder ``parent/leaf`` (``leaf-2``, ... if taken) and return it.

    The folder is private (0700): its config and record may hold secrets.
    """
    try:
        parent.mkdir(parents=True, exist_ok=True)
        mark_state_dir(parent)
        for attempt in range(1, 1000):
            folder = parent / (leaf if attempt == 1 else f"{leaf}-{attempt}")
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                continue
            return folder
    except OSError as exc:
        message = f"cannot create the job folder: {exc.strerror}"
        raise PipelineError(message, path=parent) from exc
    raise PipelineError("too many job folders with this name", path=parent / leaf)


def timestamp() -> str:
    """The time stamp used in job folder names."""
    return time.strftime("%Y%m%d-%H%M%S")


def select_profile(
    name: str | None, env_file: str | None = None
) -> tuple[EnvFile | None, Profile | None]:
    """Find the env.toml (see :func:`runspec.profiles.find_env_file`) and resolve a profile."""
    path = find_env_file(env_file)
    if path is None:
        if name:
            raise ProfileError(f"profile {name!r} asked for, but no env.toml was found")
        return None, None
    envfile = EnvFile.load(path)
    return envfile, envfile.resolve(name) if name else None


def _namespace(
    spec: Runspec,
    envfile: EnvFile | None,
    profile: Profile | None,
    config: Path,
    name: str,
    env: Mapping[str, Any],
) -> dict[str, Any]:
    run: dict[str, Any] = {"env": dict(env)}
    for section in RESERVED:
        run[section] = dict(envfile.section(section)) if envfile else {}
    literal = template.literal  # paths and names are data: never read as references
    run["recipe"] = {
        "name": literal(spec.name),
        "script": literal(str(spec.script_path)),
        "image": spec.image,
        "launch": spec.run.launcher,
        "workdir": spec.run.workdir,
        "config_dir": literal(str(spec.config_dir)),
    }
    run["config"] = {"name": literal(config.stem), "path": literal(str(config))}
    run["job"] = {
        "name": literal(name),
        "dir": None,
        "profile": literal(profile.name) if profile else None,
        "cwd": literal(os.getcwd()),
    }
    return run


def assemble(
    spec: Runspec,
    *,
    config: str | None = None,
    envfile: EnvFile | None = None,
    profile: Profile | None = None,
    overrides: Sequence[str] = (),
    job_dir: JobDir | None = None,
    environ: Mapping[str, str] | None = None,
) -> Job:
    """Build the job config for ``spec``: config file, ``run`` section, overrides, templates.

    ``job_dir`` is called with the resolved ``run.env`` to create the job folder
    (its path is then available as ``${run.job.dir}``); without it the job has none.
    ``environ`` (default: os.environ) resolves ``${oc.env:...}`` in the values runspec
    builds the job from (see :mod:`runspec.interpolation`).
    """
    path = find_config(spec, config)
    document, runenv, parsed = _document(spec, path, envfile, profile, overrides)
    absent = tuple(s for s in RESERVED if envfile is None or s not in envfile.data)
    warnings = _key_warnings(envfile, profile, parsed, document["run"]["env"])
    env = template.resolve(document["run"]["env"], document, absent=absent, warnings=warnings)
    env = resolve_job_keys(env, environ)
    _check_env(env)
    folder = job_dir(env) if job_dir else None
    document["run"]["env"] = env
    document["run"]["job"]["dir"] = template.literal(str(folder)) if folder else None
    try:
        resolved: dict[str, Any] = template.resolve(
            document, document, absent=absent, warnings=warnings
        )
        _resolve_recipe_keys(resolved, environ)
        _check_recipe_references(spec, resolved, absent, warnings)
    except BaseException:
        discard_dir(folder)
        raise
    origins = MappingProxyType(dict(runenv.origins))
    return Job(
        spec, profile, path, resolved, job_name(spec), folder, parsed,
        env_origins=origins, warnings=tuple(warnings), absent=absent,
    )  # fmt: skip


def _document(
    spec: Runspec,
    path: Path,
    envfile: EnvFile | None,
    profile: Profile | None,
    overrides: Sequence[str],
) -> tuple[dict[str, Any], RunEnv, tuple[Override, ...]]:
    """The job config before resolution: the config file, its ``run`` section with
    runspec's own and the merged ``run.env``, overrides applied."""
    data = load_config(path, spec.config.format)
    problem = tree_problem(data)
    if problem:
        raise ConfigError(problem, path=path)
    own = _own_run(data, path)
    merged = RunEnv.merge(spec, profile, own.get("env") or {})
    run = _namespace(spec, envfile, profile, path, job_name(spec), merged.values)
    document = {**data, "run": deep_merge({k: v for k, v in own.items() if k != "env"}, run)}
    _add_artifacts_section(document, envfile)
    document = json_ready(document)  # TOML and YAML dates and times as ISO 8601 text
    parsed = tuple(Override.parse(text) for text in overrides)
    _refuse_runspec_keys(parsed)
    document = apply_overrides(document, parsed, open_prefixes=(("run", "env"),))
    _require(document, "run", dict)
    for part in ("env", "job"):
        _require(document["run"], part, dict, prefix="run.")
    runenv = merged.overridden(document["run"]["env"], parsed)
    document["run"]["env"] = dict(runenv.values)
    return document, runenv, parsed


def _add_artifacts_section(document: dict[str, Any], envfile: EnvFile | None) -> None:
    """env.toml's ``[artifacts]`` as the top-level ``artifacts`` key, as the cookbook's
    tooling does (the recipe finds its registry there); the config file's own keys win."""
    section = envfile.section("artifacts") if envfile else {}
    own = document.get("artifacts")
    if section and (own is None or isinstance(own, Mapping)):
        document["artifacts"] = deep_merge(dict(section), own or {})


def _refuse_runspec_keys(overrides: Sequence[Override]) -> None:
    """``run.job`` is what runspec knows about the job (its name, folder, profile, cwd)."""
    for override in overrides:
        if override.path[:2] == ("run", "job"):
            message = "set by runspec; an override cannot change it"
            raise OverrideError(message, key=".".join(override.path))


def _key_warnings(
    envfile: EnvFile | None,
    profile: Profile | None,
    overrides: Sequence[Override],
    env: Mapping[str, Any],
) -> list[str]:
    """Keys a run would use but runspec does not read: the profile's (every member of
    its chain, root first) and those that overrides add to ``run.env`` (the merged
    ``env``, which names the executor)."""
    found = []
    if envfile is not None and profile is not None:
        for member in reversed(profile.chain):
            for problem in key_warnings(envfile, member):
                found.append(location(problem.path, problem.line, problem.key) + problem.message)
    known = _known_keys(env)
    for override in overrides:
        path = override.path
        if path[:2] == ("run", "env") and len(path) > 2 and path[2] not in known:
            found.append(f"{'.'.join(path[:3])}: {unknown_key(path[2], known)}")
    return found


def _known_keys(env: Mapping[str, Any]) -> tuple[str, ...]:
    """runspec's profile keys, and those of the integration that runs a job with ``env``
    (nemo-run's executors have keys of their own)."""
    executor = env.get("executor") or "local"
    reads = integration_keys(str(executor), env.get("launcher"))
    return (*KNOWN_KEYS, *sorted(reads or ()))


def _own_run(data: Mapping[str, Any], path: Path) -> Mapping[str, Any]:
    """The config file's own ``run`` section (empty when it has none)."""
    _require(data, "run", dict, path=path, missing_ok=True)
    own: Mapping[str, Any] = data.get("run") or {}
    if own.get("env") is not None:
        _require(own, "env", dict, prefix="run.", path=path)
    return own


def _check_recipe_references(
    spec: Runspec, config: Mapping[str, Any], absent: Sequence[str], warnings: list[str]
) -> None:
    """Resolve the header's ``cmd`` and ``env`` once now, as launching will: an unknown
    reference fails before anything starts, naming the header key; an optional section's
    absence warns once."""
    from .launch import program

    def resolve(text: str) -> Any:
        return template.resolve(text, config, absent=absent, warnings=warnings, final=True)

    texts = [(f"env.{name}", text) for name, text in spec.env.items() if isinstance(text, str)]
    for key, text in [("run.cmd", None), *texts]:
        try:
            if text is None:
                program(spec, "", resolve=resolve)
            else:
                resolve(text)
        except TemplateError as error:
            where = f"${{{error.key}}}: " if error.key else ""
            raise _header_error(spec, f"tool.runspec.{key}", where + error.message) from None


def _header_error(spec: Runspec, key: str, message: str) -> SpecError:
    """An error about a header key, naming the script and the key's line."""
    from .declaration import located
    from .errors import ScriptError
    from .script import scan_file

    error = SpecError(message, path=spec.script_path, key=key)
    try:
        block = scan_file(spec.script_path)
    except ScriptError:
        return error
    return located(error, block, spec.script_path) if block else error


def _resolve_recipe_keys(document: dict[str, Any], environ: Mapping[str, str] | None) -> None:
    """Resolve ``${oc.env:...}`` in the recipe's image and working folder (``run.recipe``)."""
    recipe = document["run"].get("recipe")
    if not isinstance(recipe, dict):
        return
    for key in ("image", "workdir"):
        if isinstance(recipe.get(key), str):
            recipe[key] = resolve_job_value(recipe[key], f"run.recipe.{key}", environ)


def discard_dir(folder: Path | None) -> None:
    """Remove a job folder that is still empty: the job it was made for never started."""
    if folder is not None:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _require(
    table: Mapping[str, Any],
    key: str,
    kind: type,
    *,
    prefix: str = "",
    path: Path | None = None,
    missing_ok: bool = False,
) -> None:
    """Refuse a ``run`` section value of the wrong kind (from a config file or an override)."""
    if key not in table:
        if missing_ok:
            return
        message = "deleted by an override"
    elif isinstance(table[key], kind):
        return
    else:
        message = f"got {table[key]!r}"
    noun = "a table" if kind is dict else "a string"
    raise ConfigError(f"must be {noun} ({message})", path=path, key=prefix + key)


def _check_env(env: Mapping[str, Any]) -> None:
    """Profile keys in ``run.env`` must have their type, also when an override set them."""
    for key, value in env.items():
        problem = value_error(key, value) if value is not None else None
        if problem:
            raise ConfigError(problem, key=f"run.env.{key}")


class _GitProbe:
    """``git status`` of one folder, started at once and read when needed.

    One process gives both the commit and the dirty flag (``--porcelain=v2 --branch``);
    untracked files do not count (``--untracked-files=no``), which also spares git a
    walk over every folder of a big repository.
    """

    def __init__(self, folder: Path) -> None:
        import subprocess

        argv = ["git", "-C", str(folder), "status", "--porcelain=v2", "--branch",
                "--untracked-files=no"]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None
        try:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            self._process = None
        self._state: dict[str, Any] | None = None

    def state(self) -> dict[str, Any] | None:
        """``{"commit": ..., "dirty": ...}``, or None outside a repository (or without git)."""
        import subprocess

        process, self._process = self._process, None
        if process is None:
            return self._state
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        lines = out.decode("utf-8", "replace").splitlines() if process.returncode == 0 else []
        commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
        if commit is not None and commit != "(initial)":
            dirty = any(not line.startswith("#") for line in lines)
            self._state = {"commit": commit, "dirty": dirty}
        return self._state


_GIT_PROBES: dict[str, _GitProbe] = {}


def probe_git(folder: Path) -> None:
    """Start finding ``folder``'s git commit and dirty flag in the background, once per folder.

    :func:`write_record` waits for the answer; starting early lets git run while the
    job's steps start.
    """
    if str(folder) not in _GIT_PROBES:
        _GIT_PROBES[str(folder)] = _GitProbe(folder)


def _git_state(folder: Path) -> dict[str, Any] | None:
    probe_git(folder)
    return _GIT_PROBES[str(folder)].state()


def write_record(job: Job, argv: Sequence[str], job_id: str | None, **extra: Any) -> Path:
    """Write ``runspec.json`` into the job folder: how the job came to be, for reproducing it.

    Secrets in ``argv`` are masked; the record is private (0600) when the job holds any.
    ``git`` (commit and dirty flag) is asked of git unless the caller knows it already.
    """
    import json

    if job.dir is None:
        raise ValueError("this job has no folder")
    git = extra.pop("git") if "git" in extra else _git_state(job.spec.script_path.parent)
    shown_argv = masked_argv(argv)
    record = {
        "argv": shown_argv,
        "name": job.name,
        "recipe": job.spec.name,
        "profile": job.profile.name if job.profile else None,
        "executor": job.executor,
        "job_id": job_id,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "script": str(job.spec.script_path),
        "config": str(job.config_path),
        "cwd": os.getcwd(),
        "git": git,
        **extra,
    }
    path = job.dir / "runspec.json"
    private = shown_argv != list(argv) or has_secrets(job.config) or has_secrets(job.spec.env)
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    _write(path, text, 0o600 if private else 0o644, "the job record")
    return path


def _write(path: Path, text: str, mode: int, what: str) -> None:
    """Write a file of the job folder; a failure is one line naming the file."""
    try:
        write_atomic(path, text, mode)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PipelineError(f"cannot write {what}: {reason}", path=path) from None
