"""The command a recipe runs, by launch method, as an argument vector (no shell involved).

The recipe's own program is its ``cmd`` (``{script}`` and ``{config}`` filled in,
split like a shell would split it) or, by default, ``python SCRIPT --config CONFIG``.
``torchrun`` wraps that program: a default program is handed to torchrun as a
script, a ``cmd`` program with ``--no-python``. Extra arguments go last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import template
from ._environ import env_text
from .errors import SpecError
from .spec import Runspec

__all__ = ["program", "torchrun_argv"]


def program(
    spec: Runspec,
    config: str,
    args: Sequence[str] = (),
    *,
    python: str = "python",
    namespace: Mapping[str, Any] | None = None,
) -> tuple[str, ...]:
    """The recipe's own command: ``cmd`` filled in, else ``python SCRIPT --config CONFIG``.

    ``${run.*}`` references in ``cmd`` are resolved against ``namespace`` (the job
    config); each token is resolved separately, so a value never splits into words.
    """
    import shlex

    script = str(spec.script_path)
    if spec.run.cmd is None:
        return (python, script, "--config", config, *args)
    try:
        tokens = shlex.split(spec.run.cmd)
    except ValueError as exc:
        message = f"cannot split the command: {exc}"
        raise SpecError(message, path=spec.script_path, key="tool.runspec.run.cmd") from None
    filled = [token.replace("{script}", script).replace("{config}", config) for token in tokens]
    if namespace is not None:
        filled = [_argument(template.resolve(token, namespace), spec) for token in filled]
    return (*filled, *args)


def _argument(value: object, spec: Runspec) -> str:
    """One word of the command; a table or list cannot be one."""
    if isinstance(value, (dict, list, tuple)):
        from ._masking import masked_tree

        got = masked_tree(value)
        message = f"a {type(value).__name__} cannot be a command argument (got {got!r})"
        raise SpecError(message, path=spec.script_path, key="tool.runspec.run.cmd")
    return env_text(value)


def torchrun_argv(
    spec: Runspec,
    config: str,
    args: Sequence[str] = (),
    *,
    torchrun: Sequence[str],
    namespace: Mapping[str, Any] | None = None,
) -> tuple[str, ...]:
    """``torchrun`` (given as ``torchrun``, with its options) running the recipe's program."""
    inner = program(spec, config, args, python="python", namespace=namespace)
    if spec.run.cmd is None:
        return (*torchrun, *inner[1:])
    return (*torchrun, "--no-python", *inner)
