"""Where the artifact registry is: ``RUNSPEC_ARTIFACTS_ROOT``, the job config, env.toml.

The first that names a root wins:

1. ``$RUNSPEC_ARTIFACTS_ROOT``;
2. the job config's top-level ``artifacts:`` section (a job gets env.toml's
   ``[artifacts]`` there, so it finds the registry wherever it runs): the one given,
   else the one of the file ``$RUNSPEC_CONFIG`` (set by runspec in its jobs);
3. the ``[artifacts]`` section of the env.toml runspec finds
   (:func:`runspec.profiles.find_env_file`).

A section gives the root as ``root = "..."`` or, in the cookbook's form,
``[artifacts.manifest] root = "..."``; a relative root is relative to the env.toml.
``storage_options`` (a table) is passed to fsspec; ``wandb = true`` also tracks
artifacts in W&B.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ArtifactError

__all__ = ["ENV_ROOT", "Settings"]

ENV_ROOT = "RUNSPEC_ARTIFACTS_ROOT"


@dataclass(frozen=True)
class Settings:
    """The artifact settings in force: the registry root and how to reach and track it."""

    root: str | None = None
    origin: str = ""
    """Where ``root`` came from, for messages (``env.toml:6``, ``RUNSPEC_ARTIFACTS_ROOT``)."""
    storage_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    wandb: bool = False

    @classmethod
    def from_section(cls, section: Mapping[str, Any], origin: str, base: Path | None) -> Settings:
        """Read an ``[artifacts]`` table; ``base`` anchors a relative local root."""
        manifest = section.get("manifest")
        root = section.get("root")
        if root is None and isinstance(manifest, Mapping):
            root = manifest.get("root")
        if root is not None and not isinstance(root, str):
            raise ArtifactError(f"{origin}: artifacts.root must be a string (got {root!r})")
        if root and base is not None and "://" not in root and not os.path.isabs(root):
            root = str(base / os.path.expanduser(root))
        options = section.get("storage_options") or {}
        if not isinstance(options, Mapping):
            raise ArtifactError(f"{origin}: artifacts.storage_options must be a table")
        wandb = bool(section.get("wandb"))
        return cls(root or None, origin, MappingProxyType(dict(options)), wandb)

    @classmethod
    def find(
        cls,
        config_section: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        env_file: str | None = None,
    ) -> Settings:
        """The settings in force for this process (see the module's docstring)."""
        env = os.environ if environ is None else environ
        if config_section is None and env.get("RUNSPEC_CONFIG"):
            config_section = _job_config_section(Path(env["RUNSPEC_CONFIG"]))
        from_file = _env_file_settings(env_file, env)
        from_config = (
            cls.from_section(config_section, "the job config's artifacts section", None)
            if config_section
            else None
        )
        chosen = from_config if from_config and from_config.root else from_file
        if env.get(ENV_ROOT):
            return cls(env[ENV_ROOT], ENV_ROOT, chosen.storage_options, chosen.wandb)
        return chosen

    def require_root(self) -> str:
        """The root, or an error that says how to configure one."""
        if not self.root:
            raise ArtifactError(
                f"no artifact registry configured: set {ENV_ROOT} or add "
                '[artifacts] root = "..." to env.toml'
            )
        return self.root


def _env_file_settings(explicit: str | None, env: Mapping[str, str]) -> Settings:
    from runspec.profiles import EnvFile, find_env_file

    path = find_env_file(explicit, environ=env)
    if path is None:
        return Settings()
    envfile = EnvFile.load(path)
    section = envfile.section("artifacts")
    line = envfile.line_of(("artifacts", "root"))
    line = line or envfile.line_of(("artifacts", "manifest", "root"))
    origin = f"{path}:{line}" if line else str(path)
    return Settings.from_section(section, origin, path.parent)


def _job_config_section(path: Path) -> Mapping[str, Any] | None:
    """The ``artifacts`` section of the job config file at ``path`` (JSON or YAML)."""
    from runspec.config import load_config
    from runspec.errors import RunspecError

    try:
        section = load_config(path, "yaml").get("artifacts")
    except (RunspecError, OSError):
        return None  # the job config is the recipe's business; env.toml still applies
    return section if isinstance(section, Mapping) else None
