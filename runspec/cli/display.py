"""What the toolkit's commands print: tables, trees and help panels, as pure renderers.

Colour is an argument (:class:`Style`), decided once by the caller with
:func:`style_for`: only when the stream is a terminal, never when ``NO_COLOR`` is set
(to anything but an empty string) or ``TERM`` is ``dumb``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..history import JobEntry

__all__ = ["PLAIN", "Style", "render_jobs", "style_for"]

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
_STATE_TONES = {
    "COMPLETED": "green", "RUNNING": "yellow", "PENDING": "yellow", "SUBMITTED": "yellow",
    "CONFIGURING": "yellow", "COMPLETING": "yellow",
}  # fmt: skip


@dataclass(frozen=True)
class Style:
    """Whether to colour, and how: ``paint(text, tone)`` wraps text in an ANSI colour."""

    colour: bool

    def paint(self, text: str, tone: str) -> str:
        """``text`` in ``tone`` (bold, dim, red, green, yellow, cyan) when colouring."""
        if not self.colour or not text:
            return text
        return f"\033[{_CODES[tone]}m{text}\033[0m"


PLAIN = Style(False)


def style_for(stream: IO[Any], environ: dict[str, str] | None = None) -> Style:
    """Colour for ``stream``: a terminal, without ``NO_COLOR`` and not ``TERM=dumb``."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return PLAIN
    try:
        return Style(stream.isatty())
    except (AttributeError, ValueError):
        return PLAIN


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
