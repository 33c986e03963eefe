"""OmegaConf interpolations in the values runspec itself builds a job from.

runspec reads a few values to build a job: the container image, the mounts, the
working folder and the job folders (:data:`JOB_KEYS` of ``run.env``, and the
recipe's ``image`` and ``run.workdir``). There ``${oc.env:VAR}`` and
``${oc.env:VAR,default}`` are resolved from the environment runspec runs in, as
OmegaConf would resolve them: the variable's text, else the default (``null`` gives
None), else an error. Any other ``${...}`` in such a value is an error naming the key,
except ``${auto_mount:...}`` in ``mounts`` (see :mod:`runspec.auto_mount`).
Everywhere else in a job config, interpolations are left for the job to resolve.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["JOB_KEYS", "resolve_job_keys", "resolve_job_value"]

JOB_KEYS = (
    "container_image", "container", "mounts", "workdir", "container_workdir", "job_dir",
    "remote_job_dir",
)  # fmt: skip
"""The ``run.env`` keys whose values runspec uses itself to build the job."""

_ENV_ARGS = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:,(.*))?", re.S)


def resolve_job_keys(
    env: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A copy of ``run.env`` with :data:`JOB_KEYS` resolved (see :func:`resolve_job_value`)."""
    resolved = dict(env)
    for key in JOB_KEYS:
        value = env.get(key)
        if isinstance(value, str):
            resolved[key] = resolve_job_value(value, f"run.env.{key}", environ)
        elif isinstance(value, list):
            resolved[key] = [
                resolve_job_value(item, f"run.env.{key}", environ, allow=("auto_mount",))
                if isinstance(item, str)
                else item
                for item in value
            ]
    return resolved


def resolve_job_value(
    text: str,
    key: str,
    environ: Mapping[str, str] | None = None,
    *,
    allow: tuple[str, ...] = (),
) -> Any:
    """``text`` with its ``${oc.env:...}`` resolved from ``environ`` (default: os.environ).

    A value that is one ``${oc.env:VAR,null}`` with VAR unset is None. Interpolations
    named in ``allow`` (``auto_mount``) are kept as written; any other one is a
    :class:`~runspec.errors.ConfigError` naming ``key``.
    """
    if "${" not in text:
        return text
    env = os.environ if environ is None else environ
    parts: list[Any] = []
    position = 0
    for start, end in _interpolations(text, key):
        body = text[start + 2 : end - 1]
        parts += [text[position:start], _value(body, text[start:end], key, env, allow)]
        position = end
    parts.append(text[position:])
    pieces = [part for part in parts if part != ""]
    if len(pieces) == 1 and pieces[0] is None:
        return None
    return "".join("None" if part is None else str(part) for part in parts)


def _interpolations(text: str, key: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level ``${...}`` in ``text``, braces balanced."""
    found, index = [], text.find("${")
    while index != -1:
        depth, end = 0, index
        while end < len(text):
            if text.startswith("${", end):
                depth, end = depth + 1, end + 2
                continue
            if text[end] == "}":
                depth -= 1
                if depth == 0:
                    break
            end += 1
        if depth != 0:
            raise ConfigError(f"unclosed interpolation in {text!r}", key=key)
        found.append((index, end + 1))
        index = text.find("${", end + 1)
    return found


def _value(body: str, whole: str, key: str, env: Mapping[str, str], allow: tuple[str, ...]) -> Any:
    name, _, arguments = body.partition(":")
    if name in allow:
        return whole
    if name != "oc.env" or "${" in arguments:
        raise ConfigError(
            f"cannot resolve {whole}: runspec builds the job from this value and resolves only"
            " ${oc.env:VAR} and ${oc.env:VAR,default} in it",
            key=key,
        )
    match = _ENV_ARGS.fullmatch(arguments)
    if match is None:
        expected = "${oc.env:VAR} or ${oc.env:VAR,default}"
        raise ConfigError(f"bad {whole} (expected {expected})", key=key)
    variable, default = match.group(1), match.group(2)
    if variable in env:
        return env[variable]
    if default is None:
        raise ConfigError(
            f"environment variable {variable!r} is not set (used by {whole}; give a default"
            f" with ${{oc.env:{variable},default}})",
            key=key,
        )
    return _default(default.strip())


def _default(text: str) -> str | None:
    """An ``oc.env`` default as OmegaConf reads it: ``null`` is None, quotes are removed."""
    if text == "null":
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text
