"""The ``${art:NAME,FIELD}`` OmegaConf resolver.

``NAME`` is a key under the config's ``run:`` section holding an artifact reference
(``run.data: tiny-data:latest``), or a reference itself (``${art:tiny-data:v3,path}``).
``FIELD`` is ``path`` (the default), ``version`` (``v3``), ``name``, ``ref``
(``tiny-data:v3``), ``created_at``, or a key of the version's metadata. The registry
is the one configured for the process (:class:`~.settings.Settings`, with the
config's own ``artifacts:`` section); inside a job the reference is resolved once
for all ranks and recorded as used (:mod:`.context`).

:func:`register` is called by :func:`runspec_extras.omegaconf_config.register_resolvers`.
Importing this module imports nothing outside the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._optional import importing
from .errors import ArtifactError

__all__ = ["BUILTIN_FIELDS", "register", "resolve_art", "resolve_in_config"]

_REFERENCE = re.compile(r"\$\{art:([^,{}]+)(?:,([^{}]+))?\}")

BUILTIN_FIELDS = ("path", "version", "name", "ref", "created_at")


def register() -> None:
    """Register ``art`` with OmegaConf (again is a no-op)."""
    with importing("the ${art:...} resolver"):
        from omegaconf import OmegaConf
    if OmegaConf.has_resolver("art"):
        return
    modern = getattr(OmegaConf, "register_resolver", None)
    if modern is not None:  # OmegaConf 2.4
        modern("art", _art, annotation_validation="off")
    else:
        OmegaConf.register_new_resolver("art", _art)


def _art(name: Any, field: Any = "path", *, _root_: Any) -> Any:
    from omegaconf import DictConfig, OmegaConf

    references: dict[str, str] = {}
    section: Mapping[str, Any] | None = None
    if isinstance(_root_, DictConfig):
        run = _root_.get("run")
        if isinstance(run, DictConfig):
            for key in run:
                value = run.get(key)
                if isinstance(value, str):
                    references[str(key)] = value
        found = _root_.get("artifacts")
        if isinstance(found, DictConfig):
            plain = OmegaConf.to_container(found, resolve=True)
            if isinstance(plain, dict):
                section = {str(key): value for key, value in plain.items()}
    return resolve_art(str(name), str(field), references, section)


def resolve_art(
    name: str,
    field: str,
    references: Mapping[str, str],
    section: Mapping[str, Any] | None = None,
) -> Any:
    """What ``${art:name,field}`` gives, with ``references`` the string values under
    ``run`` and ``section`` the config's ``artifacts:`` section."""
    from .context import configured_registry, use
    from .settings import Settings

    where = f"${{art:{name},{field}}}"
    settings = Settings.find(section)
    reference = references.get(name, name)
    try:
        version = use(reference, via=where, settings=settings)
    except ArtifactError as exc:
        if name in references or ":" in name:
            raise ArtifactError(f"{where}: {exc}") from None
        known = ", ".join(f"run.{key}" for key in references) or "none"
        listed = ", ".join(configured_registry(settings).list()) or "none"
        raise ArtifactError(
            f"{where}: {name!r} is neither a reference under run (references: {known}) "
            f"nor an artifact in the registry (artifacts: {listed})"
        ) from None
    try:
        return version.value(field)
    except KeyError:
        fields = ", ".join(BUILTIN_FIELDS)
        meta = ", ".join(version.metadata) or "none"
        raise ArtifactError(
            f"{where}: {version.ref} has no field {field!r} (fields: {fields}; metadata: {meta})"
        ) from None


def resolve_in_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every ``${art:...}`` replaced by its value.

    This is what ``runspec config --resolve-artifacts`` prints. A string that is one
    reference gets the value as it is (a number stays a number); a reference inside
    a longer string is replaced by its text.
    """
    run = config.get("run") if isinstance(config.get("run"), Mapping) else {}
    assert isinstance(run, Mapping)
    references = {str(key): value for key, value in run.items() if isinstance(value, str)}
    section = config.get("artifacts") if isinstance(config.get("artifacts"), Mapping) else None

    def value(match: re.Match[str]) -> Any:
        name, field = match.group(1).strip(), (match.group(2) or "path").strip()
        return resolve_art(name, field, references, section)

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, str):
            whole = _REFERENCE.fullmatch(node)
            if whole:
                return value(whole)
            return _REFERENCE.sub(lambda match: str(value(match)), node)
        return node

    resolved: dict[str, Any] = walk(config)
    return resolved
