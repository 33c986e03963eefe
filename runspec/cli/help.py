"""What ``--help`` shows in a recipe CLI: gathered here, drawn by :mod:`.display`.

A recipe command's help says what the recipe declares (image, launch, resources), the
configs of its config folder (the default marked), the profiles of the env.toml in use
(with what each extends), the override forms with examples taken from its default
config's keys, the passthrough rule, and the options. Reading it needs no more than the
recipe's declaration, a folder listing, the env.toml and the default config.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RunspecError

if TYPE_CHECKING:
    from ..discovery import RecipeEntry

__all__ = ["config_examples", "group_help", "recipe_help"]

_SUFFIXES = {"json": (".json",), "yaml": (".yaml", ".yml"), "omegaconf": (".yaml", ".yml")}
_SKIPPED_KEYS = ("run", "defaults")


def recipe_help(
    entry: RecipeEntry, parser: argparse.ArgumentParser, root: Path, env_file: str | None = None
) -> str:
    """The help of one recipe command; ``env_file`` is the ``--env-file`` given, if any."""
    from .display import RecipeHelp, render_recipe_help, style_for

    described = entry.description
    config = described["config"]
    folder = Path(described["config_dir"])
    names = _configs(folder, config["format"])
    examples, why = config_examples(folder, config["default"], config["format"])
    shown_env, profiles = _profiles(env_file)
    parser.add_argument("-h", "--help", action="help", help="show this help")
    page = RecipeHelp(
        usage=f"{parser.prog} [OPTIONS] [KEY=VALUE ...] [ARGS ...] [-- ARGS ...]",
        name=entry.name or parser.prog, script=_shown(entry.path, root), described=described,
        config_dir=str(folder), configs=names, default=str(config["default"]),
        env_file=shown_env, profiles=profiles, examples=examples, examples_note=why,
        options=_options(parser), command=parser.prog,
    )  # fmt: skip
    return render_recipe_help(page, style_for(sys.stdout))


def group_help(
    prog: str, path: Sequence[str], listing: Sequence[tuple[str, RecipeEntry]], root: Path
) -> str:
    """The help of the program, or of a group of commands (``prog nano3``)."""
    from .display import render_group_help, style_for

    rows = [
        (" ".join([*path, words]).strip(), entry.description, _shown(entry.path, root))
        for words, entry in listing
    ]
    return render_group_help(" ".join([prog, *path]), rows, str(root), style_for(sys.stdout))


def _shown(path: str, root: Path) -> str:
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative


def _configs(folder: Path, format: str) -> list[str]:
    suffixes = _SUFFIXES.get(format, (".json",))
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted({Path(name).stem for name in names if Path(name).suffix in suffixes})


def _profiles(explicit: str | None) -> tuple[str | None, list[tuple[str, str | None]]]:
    """The env.toml in use and its profiles, each with the profile it extends."""
    from ..profiles import EnvFile, find_env_file

    try:
        path = find_env_file(explicit)
        if path is None:
            return None, []
        envfile = EnvFile.load(path)
    except RunspecError as exc:
        return f"(cannot be read: {exc})", []
    return str(path), [(name, envfile.extends_of(name)) for name in envfile.profile_names]


def config_examples(
    folder: Path, default: str, format: str
) -> tuple[list[tuple[str, str]], str | None]:
    """Override examples from the default config's keys: ``(override, what it does)``
    pairs, or none and why (no such config, or it cannot be read here)."""
    from ..config import load_config

    path = next(
        (folder / f"{default}{suffix}" for suffix in _SUFFIXES.get(format, (".json",))
         if (folder / f"{default}{suffix}").is_file()),
        None,
    )  # fmt: skip
    if path is None:
        return [], f"no default config {default!r} in {folder}"
    try:
        data = load_config(path, format)
    except RunspecError as exc:
        return [], f"the default config cannot be read here: {exc}"
    leaves = list(_leaves(data, ()))
    if not leaves:
        return [], f"the default config {path.name} has no keys to show"
    return _examples(leaves), None


def _leaves(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key, value in data.items():
        if not path and key in _SKIPPED_KEYS:
            continue
        if isinstance(value, Mapping):
            yield from _leaves(value, (*path, str(key)))
        elif isinstance(value, (str, int, float, bool)) and not str(value).startswith("${"):
            yield (*path, str(key)), value


def _examples(leaves: list[tuple[tuple[str, ...], Any]]) -> list[tuple[str, str]]:
    short = [leaf for leaf in leaves if len(_text(leaf[1])) <= 24] or leaves
    numbers = [leaf for leaf in short if not isinstance(leaf[1], str)]
    nested = [leaf for leaf in numbers + short if len(leaf[0]) > 1] or numbers + short
    first, value = nested[0]
    second, other = nested[min(1, len(nested) - 1)]
    last = nested[-1][0]
    parent = ".".join(first[:-1]) + "." if len(first) > 1 else ""
    return [
        (f"{'.'.join(first)}={_text(value)}", "set a key the config has"),
        (f"+{parent}new_key=1", "add a key it lacks"),
        (f"++{'.'.join(second)}={_text(other)}", "set a key, adding it if missing"),
        (f"~{'.'.join(last)}", "delete a key"),
    ]


def _text(value: Any) -> str:
    """A value as an override word writes it."""
    import json

    if isinstance(value, str):
        plain = value and all(ch.isalnum() or ch in "._-/:" for ch in value)
        return value if plain and value not in ("true", "false", "null") else json.dumps(value)
    return json.dumps(value)


def _options(parser: argparse.ArgumentParser) -> str:
    """argparse's own listing of the options."""
    text = parser.format_help()
    start = text.find("options:\n")
    return text[start + len("options:\n") :] if start >= 0 else ""
