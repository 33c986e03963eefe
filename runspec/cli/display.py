"""What the toolkit's commands print: tables, trees and help panels, as pure renderers.

Colour is an argument (:class:`Style`), decided once by the caller with
:func:`style_for`: only when the stream is a terminal, never when ``NO_COLOR`` is set
(to anything but an empty string) or ``TERM`` is ``dumb``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..history import JobEntry

__all__ = [
    "PLAIN",
    "Node",
    "Style",
    "config_nodes",
    "duration_text",
    "render_jobs",
    "render_plan",
    "render_tree",
    "style_for",
]

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
_STATE_TONES = {
    "COMPLETED": "green", "RUNNING": "yellow", "PENDING": "yellow", "SUBMITTED": "yellow",
    "CONFIGURING": "yellow", "COMPLETING": "yellow",
}  # fmt: skip


@dataclass(frozen=True)
class Style:
    """Whether to colour (``paint(text, tone)`` wraps text in an ANSI colour), and whether
    trees are drawn with ASCII (``|--``) instead of box-drawing characters."""

    colour: bool
    ascii: bool = False

    def paint(self, text: str, tone: str) -> str:
        """``text`` in ``tone`` (bold, dim, red, green, yellow, cyan) when colouring."""
        if not self.colour or not text:
            return text
        return f"\033[{_CODES[tone]}m{text}\033[0m"


PLAIN = Style(False)


def style_for(stream: IO[Any], environ: dict[str, str] | None = None) -> Style:
    """Colour for ``stream``: a terminal, without ``NO_COLOR`` and not ``TERM=dumb``."""
    env = os.environ if environ is None else environ
    drawable = _can_draw(stream)
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return Style(False, not drawable)
    try:
        return Style(stream.isatty(), not drawable)
    except (AttributeError, ValueError):
        return Style(False, not drawable)


def _can_draw(stream: IO[Any]) -> bool:
    """Whether the stream's encoding has the box-drawing characters."""
    try:
        "├└│─".encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# jobs -----------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """``0.5s``, ``42s``, ``3m05s``, ``2h07m``, ``3d04h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    whole = max(0, int(seconds))
    minutes, secs = divmod(whole, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d{hrs:02d}h"
    if hours:
        return f"{hours}h{mins:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _state_tone(state: str) -> str:
    return _STATE_TONES.get(state, "red")


def render_jobs(entries: Sequence[JobEntry], style: Style = PLAIN) -> str:
    """The ``runspec jobs`` table, newest first."""
    header = ("ID", "RECIPE", "PROFILE", "WHERE", "STATE", "EXIT", "START", "DURATION")
    rows = [
        (
            entry.id, entry.recipe, entry.profile or "-", entry.where, entry.state,
            "-" if entry.exit_code is None else str(entry.exit_code),
            (entry.start or "-").replace("T", " ")[:16], duration_text(entry.duration),
        )
        for entry in entries
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [style.paint(_row(header, widths), "bold")]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        cells[4] = style.paint(cells[4], _state_tone(row[4]))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


# trees ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One line of a tree: a label, an optional value, and the nodes under it."""

    label: str
    value: str = ""
    children: tuple[Node, ...] = ()
    tone: str = "cyan"
    gap: str = "  "
    """What separates the label from a one-line value."""


def render_tree(root: Node, style: Style = PLAIN) -> str:
    """Draw a tree: the root on the first line, each child under it with branch lines."""
    lines = [_line(root, style)]
    _draw(root.children, "", style, lines)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _draw(children: Sequence[Node], indent: str, style: Style, lines: list[str]) -> None:
    branch, last, bar = ("|-- ", "`-- ", "|   ") if style.ascii else ("├── ", "└── ", "│   ")
    for index, child in enumerate(children):
        final = index == len(children) - 1
        label = _line(child, style).split("\n")
        lines.append(indent + (last if final else branch) + label[0])
        below = indent + ("    " if final else bar)
        lines.extend(below + line for line in label[1:])
        _draw(child.children, below, style, lines)


def _line(node: Node, style: Style) -> str:
    label = style.paint(node.label, node.tone)
    if not node.value:
        return label
    if "\n" in node.value:
        return label + "\n" + node.value.rstrip("\n")
    return f"{label}{node.gap}{node.value}"


def config_nodes(
    data: Any, marked: frozenset[tuple[str, ...]] = frozenset(), path: tuple[str, ...] = ()
) -> tuple[Node, ...]:
    """A job config as tree nodes; keys in ``marked`` (set by overrides) are flagged."""
    import json

    nodes = []
    for key, value in data.items():
        here = (*path, str(key))
        note = "  (override)" if here in marked else ""
        if isinstance(value, dict) and value:
            nodes.append(Node(str(key), note.strip(), config_nodes(value, marked, here), "bold"))
        else:
            shown = json.dumps(value, ensure_ascii=False, default=str)
            nodes.append(Node(f"{key}:", shown + note, (), "bold", " "))
    return tuple(nodes)


# dry runs ---------------------------------------------------------------------------------


def render_plan(plan: Mapping[str, Any], style: Style = PLAIN) -> str:
    """A dry run (:func:`runspec.run.plan.plan`) as a tree, ending with what would run."""
    recipe, mounts = plan["recipe"], plan["mounts"]
    children = [
        Node("launch", str(recipe["launch"])),
        Node("profile", _profile_text(plan["profile"])),
        Node("executor", str(plan["executor"])),
        Node("resources", _pairs(plan["resources"]) or "(none set)"),
        Node("image", _image_text(plan)),
        Node("mounts", "" if mounts else "(none)", tuple(Node(str(m)) for m in mounts)),
        Node("job folder", f"{plan['job_dir']}  (planned; a dry run writes nothing)"),
        _config_node(plan["config"]),
    ]
    if plan.get("notes"):
        children.append(Node("notes", "", tuple(Node(str(note)) for note in plan["notes"])))
    for key, label in (("submit", "submit"), ("batch_script", "batch script"),
                       ("command", "command"), ("plan", "plan")):  # fmt: skip
        value = plan.get(key)
        if value:
            text = "\n".join(value) if isinstance(value, list) else str(value)
            children.append(Node(label, text + "\n" if "\n" not in text else text))
    width = max(len(child.label) for child in children if "\n" not in child.value)
    aligned = tuple(
        child if "\n" in child.value else replace(child, label=child.label.ljust(width))
        for child in children
    )
    root = Node(str(recipe["name"]), str(recipe["script"]), aligned, "bold")
    return render_tree(root, style)


def _profile_text(profile: Mapping[str, Any] | None) -> str:
    if profile is None:
        return "(none: runs here with the recipe's defaults)"
    chain = " -> ".join(profile["chain"])
    return f"{profile['name']}  ({chain}; {profile['env_file']})"


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in values.items())


def _image_text(plan: Mapping[str, Any]) -> str:
    image, declared = plan["image"], plan["recipe"]["declared_image"]
    text = str(image) if image else "(none)"
    if declared and declared != image:
        text += f"  (the recipe declares {declared})"
    return text


def _config_node(config: Mapping[str, Any]) -> Node:
    overrides = config["overrides"]
    value = str(config["file"]) + (f"  overrides: {' '.join(overrides)}" if overrides else "")
    marked = frozenset(_override_path(text) for text in overrides)
    return Node("job config", value, config_nodes(config["values"], marked))


def _override_path(text: str) -> tuple[str, ...]:
    key = text.lstrip("+~").partition("=")[0]
    return tuple(key.split("."))


# help -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeHelp:
    """What a recipe command's ``--help`` shows (gathered by :mod:`runspec.cli.help`)."""

    usage: str
    name: str
    script: str
    described: Mapping[str, Any]
    """The recipe as ``runspec show --json`` gives it."""
    config_dir: str
    configs: Sequence[str]
    default: str
    env_file: str | None
    profiles: Sequence[tuple[str, str | None]]
    examples: Sequence[tuple[str, str]]
    examples_note: str | None
    options: str
    command: str


def render_recipe_help(page: RecipeHelp, style: Style = PLAIN) -> str:
    """A recipe command's help: recipe, configs, profiles, overrides, passthrough, options."""
    described = page.described
    run, resources = described["run"], described["resources"]

    def heading(text: str) -> str:
        return style.paint(text, "bold")

    lines = [f"usage: {page.usage}", "", f"{style.paint(page.name, 'cyan')}  {page.script}"]
    if described.get("docs"):
        lines.append(f"docs: {described['docs']}")
    rows = [
        ("image", described.get("image") or "(none: runs on the host)"),
        ("launch", str(run["launch"]) + (f"  (cmd: {run['cmd']})" if run.get("cmd") else "")),
        ("resources", f"{resources['nodes']} node(s) x {resources['gpus_per_node']} GPU(s)"),
    ]
    if described.get("setup"):
        rows.append(("setup", str(described["setup"]).replace("\n", " ")))
    lines += ["", heading("recipe"), *_rows(rows)]
    lines += ["", heading(f"configs (-c NAME, or -c PATH): {page.config_dir}")]
    lines += _rows([(name, "(default)" if name == page.default else "") for name in page.configs])
    if not page.configs:
        lines.append("  (none found)")
    lines += ["", heading("profiles (-r PROFILE runs attached, -b PROFILE submits and returns)")]
    lines += _profile_lines(page)
    lines += ["", heading("overrides (KEY=VALUE words, applied to the job config)")]
    lines += _rows(list(page.examples)) if page.examples else [f"  ({page.examples_note})"]
    lines += [
        "", heading("passthrough"),
        "  Any other word, and every word after --, goes to the script after",
        "  --config JOB_CONFIG, in order. Put a KEY=VALUE meant for the script after --:",
        f"    {page.command} -- --name a=b",
        "", heading("options"), page.options.rstrip("\n"),
    ]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _profile_lines(page: RecipeHelp) -> list[str]:
    if page.env_file is None:
        return ["  (no env.toml found: the recipe runs here; see 'runspec env --help')"]
    rows = [(name, f"extends {parent}" if parent else "") for name, parent in page.profiles]
    return [f"  from {page.env_file}", *_rows(rows, indent=4)]


def _rows(rows: Sequence[tuple[str, str]], indent: int = 2) -> list[str]:
    if not rows:
        return []
    width = max(len(key) for key, _ in rows)
    pad = " " * indent
    return [f"{pad}{key.ljust(width)}  {value}".rstrip() for key, value in rows]


def render_group_help(
    prog: str, rows: Sequence[tuple[str, Mapping[str, Any], str]], root: str,
    style: Style = PLAIN,
) -> str:  # fmt: skip
    """The program's (or a group's) help: every recipe command under it."""
    lines = [
        f"usage: {prog} COMMAND... [OPTIONS] [KEY=VALUE ...] [ARGS ...] [-- ARGS ...]", "",
        style.paint(f"recipes under {root}", "bold"),
    ]  # fmt: skip
    table = []
    for words, described, script in rows:
        resources = described["resources"]
        size = f"{resources['nodes']} x {resources['gpus_per_node']} GPU"
        table.append((words, f"{described['run']['launch']:<8} {size:<10} {script}"))
    lines += _rows(table) if table else ["  (none)"]
    lines += [
        "", f"Run '{prog} COMMAND... --help' for a recipe's configs, profiles and overrides.",
    ]
    return "\n".join(lines) + "\n"
