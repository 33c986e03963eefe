"""The command a recipe runs, by launch method, as an argument vector (no shell involved).

The recipe's own program is its ``cmd`` (``{script}`` and ``{config}`` filled in,
split like a shell would split it) or, by default, ``python SCRIPT --config CONFIG``.
``torchrun`` wraps that program: a default program is handed to torchrun as a
script, a ``cmd`` program with ``--no-python``. Extra arguments go last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

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
    resolve: Callable[[str], Any] | None = None,
) -> tuple[str, ...]:
    """The recipe's own command: ``cmd`` filled in, else ``python SCRIPT --config CONFIG``.

    ``${run.*}`` references in ``cmd`` are resolved by ``resolve`` (a job's
    :meth:`~runspec.job.Job.resolve`); each token separately, so a value never splits
    into words.
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
    places = {"{script}": script, "{config}": config}
    filled = [_fill(token, places, resolve, spec) for token in tokens]
    return (*filled, *args)


def _fill(
    token: str, places: Mapping[str, str], resolve: Callable[[str], Any] | None, spec: Runspec
) -> str:
    """One word of ``cmd``: ``${run.*}`` resolved in its own text, then ``{script}`` and
    ``{config}`` put in; what is put in is never read again (a path may hold ``${``)."""
    import re

    words = []
    for piece in re.split(r"(\{script\}|\{config\})", token):
        if piece in places:
            words.append(places[piece])
        elif resolve is None:
            words.append(piece)
        else:
            words.append(_argument(resolve(piece), spec))
    return "".join(words)


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
    resolve: Callable[[str], Any] | None = None,
) -> tuple[str, ...]:
    """``torchrun`` (given as ``torchrun``, with its options) running the recipe's program."""
    inner = program(spec, config, args, python="python", resolve=resolve)
    if spec.run.cmd is None:
        return (*torchrun, *inner[1:])
    return (*torchrun, "--no-python", *inner)
