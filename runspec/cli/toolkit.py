"""A repository's own command line, one command per recipe: :func:`recipe_cli`.

.. code-block:: python

    import sys
    from runspec.cli import recipe_cli

    sys.exit(recipe_cli("recipes", prog="cookbook")())

``cookbook nano3 pretrain -c tiny -r dev train.train_iters=50`` then runs the recipe named
``nano3/pretrain`` under ``recipes/``: the words of the command are the parts of the name.
Each recipe command takes the options of ``runspec run`` (``-c``, ``-p``/``-r``/``-b``,
``-d``, ``--env-file``, ``--json``, ``--show-secrets``, ``--via``), before or after the
command words; ``key=value`` words (and ``+key=``, ``++key=``, ``~key``) are overrides,
and every other word, like everything after ``--``, goes to the script. ``-d`` prints the
dry run as a tree. A new recipe is a new command on the next call: the command tree is
read from the discovery index (a ``stat`` per file), and only the chosen recipe is parsed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RunspecError

if TYPE_CHECKING:
    from ..discovery import RecipeEntry

__all__ = ["recipe_cli"]

_OVERRIDE = re.compile(r"(?:\+\+|\+)?[A-Za-z_][\w.-]*=|~[A-Za-z_][\w.-]*$", re.S)
_HELP = ("-h", "--help")


def recipe_cli(
    root: str | os.PathLike[str], *, prog: str | None = None
) -> Callable[[Sequence[str] | None], int]:
    """A ``main(argv=None) -> int`` whose commands are the recipes under ``root``.

    ``prog`` names the program in usage and errors (default: the script's file name).
    """
    folder = Path(os.path.abspath(root))

    def main(argv: Sequence[str] | None = None) -> int:
        from .main import guarded

        name = prog or os.path.basename(sys.argv[0]) or "recipes"
        words = list(sys.argv[1:] if argv is None else argv)
        return guarded(lambda: _Command(folder, name).run(words), name)

    return main


@dataclass
class _Node:
    """A command word: the recipes whose name ends here, and the words after it."""

    entries: list[RecipeEntry] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)


@dataclass
class _Words:
    """A command line taken apart: command words, run options, overrides, script words."""

    path: list[str]
    options: list[str]
    overrides: list[str]
    script_args: list[str]
    help: bool
    rest: list[str] = field(default_factory=list)
    """The words after the command, before ``--``, in order (overrides and script words)."""


class _Command:
    """One call of a recipe CLI."""

    def __init__(self, root: Path, prog: str) -> None:
        self.root, self.prog = root, prog

    def run(self, argv: list[str]) -> int:
        """Run the recipe command ``argv`` names, or show help; return the exit code."""
        from .main import add_run_options, run_command

        parser = argparse.ArgumentParser(prog=self.prog, add_help=False)
        add_run_options(parser, script=False)
        tree = self._tree()
        words = _split(argv, _value_options(parser), tree)
        node = _walk(tree, words.path)
        if not node.entries:
            return self._group(node, words)
        parser.prog = " ".join([self.prog, *words.path])
        entry = self._only(node, words.path)
        if words.help:
            from .help import recipe_help

            env_file = _option_value(words.options, "--env-file")
            print(recipe_help(entry, parser, self.root, env_file), end="")
            return 0
        args = parser.parse_args(words.options)
        args.script, args.overrides = entry.path, words.overrides
        args.script_args = words.script_args
        args.tree = args.dry_run and not args.json
        return run_command(args)

    def _tree(self) -> _Node:
        from ..discovery import recipes
        from ..names import recipe_name

        if not self.root.is_dir():
            where = f"where {self.prog} looks for recipes"
            raise RunspecError(f"{self.root}: no such folder ({where})")
        tree = _Node()
        for entry in recipes(self.root):
            node = tree
            for word in recipe_name(entry, self.root).split("/"):
                node = node.children.setdefault(word, _Node())
            node.entries.append(entry)
        return tree

    def _only(self, node: _Node, path: Sequence[str]) -> RecipeEntry:
        if len(node.entries) > 1:
            listed = ", ".join(sorted(entry.path for entry in node.entries))
            raise RunspecError(f"recipe name {'/'.join(path)!r} is ambiguous: {listed}")
        return node.entries[0]

    def _group(self, node: _Node, words: _Words) -> int:
        """Words that lead to no recipe: help for the group, or an error naming the nearest."""
        from .help import group_help

        rest = [w for w in words.script_args if not w.startswith("-")]
        if words.help or (not rest and not words.overrides):
            text = group_help(self.prog, words.path, node_listing(node), self.root)
            print(text, end="", file=sys.stdout if words.help else sys.stderr)
            return 0 if words.help else 2
        from ..names import nearest

        where = " ".join([self.prog, *words.path])
        late = next((word for word in words.rest if word in node.children), None)
        if late is not None:
            raise RunspecError(
                f"{where}: {words.rest[0]!r} comes before the recipe command {late!r}: give "
                "the command first, then overrides and words for the script"
            )
        wrong = rest[0] if rest else words.overrides[0]
        choices = nearest(wrong, sorted(node.children))[:5]
        known = f" (nearest: {', '.join(choices)})" if choices else ""
        raise RunspecError(f"{where}: no recipe command {wrong!r}{known}; see '{where} --help'")


def node_listing(node: _Node, prefix: tuple[str, ...] = ()) -> list[tuple[str, RecipeEntry]]:
    """Every recipe under ``node``: its command words and its entry, in name order."""
    found = [(" ".join(prefix), entry) for entry in node.entries]
    for word in sorted(node.children):
        found += node_listing(node.children[word], (*prefix, word))
    return found


def _walk(tree: _Node, path: list[str]) -> _Node:
    node = tree
    for word in path:
        node = node.children[word]
    return node


def _value_options(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Every option string of ``parser`` and whether it takes a value."""
    return {
        option: action.nargs != 0
        for action in parser._actions  # argparse keeps no public list of its actions
        for option in action.option_strings
    }


def _split(argv: Sequence[str], options: dict[str, bool], tree: _Node) -> _Words:
    """Take a command line apart (see the module doc): the longest run of leading words
    that names a recipe or group is the command; options may come anywhere."""
    head, tail = _cut(argv)
    words = _Words([], [], [], [], False)
    rest: list[str] = []
    node = tree
    index = 0
    while index < len(head):
        token = head[index]
        index += 1
        if token in _HELP:
            words.help = True
        elif _takes_value(token, options):
            words.options += head[index - 1 : index + 1]
            index += 1
        elif token.startswith("-") and _known_flag(token, options):
            words.options.append(token)
        elif not rest and token in node.children:
            words.path.append(token)
            node = node.children[token]
        else:
            rest.append(token)  # the command ends at the first other word
    words.rest = rest
    for token in rest:
        (words.overrides if _OVERRIDE.match(token) else words.script_args).append(token)
    words.script_args += tail
    return words


def _option_value(options: Sequence[str], name: str) -> str | None:
    """The value given to option ``name`` among the option words, if any (the last)."""
    found = None
    for index, word in enumerate(options):
        if word == name and index + 1 < len(options):
            found = options[index + 1]
        elif word.startswith(f"{name}="):
            found = word.partition("=")[2]
    return found


def _cut(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    words = list(argv)
    if "--" in words:
        at = words.index("--")
        return words[:at], words[at + 1 :]
    return words, []


def _takes_value(token: str, options: dict[str, bool]) -> bool:
    """A known option whose value is the next word (``-c tiny``, ``--run dev``)."""
    return options.get(token, False)


def _known_flag(token: str, options: dict[str, bool]) -> bool:
    """A known option written whole: a switch, or one with its value attached
    (``--config=tiny``, ``-ctiny``)."""
    name = token.split("=", 1)[0]
    if name in options:
        return not options[name] or "=" in token
    short = token[:2]
    return len(token) > 2 and not token.startswith("--") and options.get(short, False)
