"""``${run.<dotted.path>}`` references: finding them and resolving them against a namespace.

Only ``${run.`` references are touched. ``$HOME``, ``${HOME}``, ``$$``, ``${oc.env:X}``,
``${art:data,path}`` and ``${run}`` pass through, so shell and OmegaConf text survives.
A backslash before ``${run.`` escapes it (the OmegaConf escape): ``\\${run.x}`` comes
out as the literal ``${run.x}``; two backslashes are one literal backslash followed by
a live reference.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from ._merge import copy_tree
from .errors import TemplateError

__all__ = ["RunTemplate", "literal", "references", "resolve"]

_SEGMENT = r"[A-Za-z0-9_-]+"
_PATTERN = rf"""
        (?P<escaped>(?:\\\\)*\\\$)(?=\{{run\.)
      | (?P<slashes>(?:\\\\)*)\$\{{(?P<braced>run(?:\.{_SEGMENT})+)\}}
      | (?P<invalid>(?:\\\\)*\$\{{run\.[^}}]{{0,40}}\}}?)
      | (?P<named>(?!))
    """


class RunTemplate(string.Template):
    """A :class:`string.Template` whose only placeholders are ``${run.<dotted.path>}``.

    Groups: ``escaped`` is an odd run of backslashes before ``${run.`` (a literal),
    ``braced`` the dotted path of a reference (``slashes`` the even run of backslashes
    before it), ``invalid`` a ``${run.`` that does not go on as ``<path>}``.
    ``named`` never matches.
    """

    flags = re.RegexFlag(0)  # case matters: ${RUN.x} is not a reference
    pattern: ClassVar[re.Pattern[str]] = _PATTERN  # type: ignore[assignment]  # compiled by Template

    def resolve(self, namespace: Mapping[str, Any]) -> Any:
        """This template's text with its references resolved (see :func:`resolve`)."""
        return resolve(self.template, namespace)


_LIVE = re.compile(r"(\\*)\$(?=\{run\.)")


def literal(text: str) -> str:
    """``text`` escaped so that resolving it gives ``text`` back: for values runspec puts
    into the namespace itself (paths, names), which are data, never templates."""
    return _LIVE.sub(lambda match: "\\" * (2 * len(match.group(1)) + 1) + "$", text)


def references(text: str) -> tuple[str, ...]:
    """The dotted paths of the live ``${run.*}`` references in ``text``, in order."""
    return tuple(
        match.group("braced")
        for match in RunTemplate.pattern.finditer(text)
        if match.group("braced") is not None
    )


def resolve(
    value: Any,
    namespace: Mapping[str, Any],
    *,
    absent: Collection[str] = (),
    warnings: list[str] | None = None,
    final: bool = False,
) -> Any:
    """Return ``value`` with every ``${run.*}`` reference replaced from ``namespace``.

    ``value`` may be a string or any structure of mappings, lists and tuples (a new
    structure is returned; mappings come back as dicts). ``namespace`` is the root
    mapping, holding ``run``. A string that is exactly one reference becomes the
    referenced value itself, of its own type; references inside referenced values are
    resolved too. Raises :class:`TemplateError` for an unknown path, a path through a
    scalar, a table or list embedded in a longer string, a malformed reference or a
    cycle.

    ``absent`` names optional env.toml sections the file does not have (``wandb``,
    ...): a reference into ``run.<section>`` that finds nothing there is None, and
    a warning naming the reference and the section to add goes to ``warnings``
    (once per reference).

    ``final``: ``namespace`` holds resolved values (a job's config): a reference takes
    the value as it is, and text in it that looks like a reference stays text.
    """
    resolver = _Resolver(namespace, absent, warnings, final=final)
    try:
        return resolver.expand(value, None)
    except RecursionError as error:
        raise TemplateError("references nested too deeply") from error


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


class _Resolver:
    """One resolution: remembers resolved paths, and the paths being resolved (cycles)."""

    def __init__(
        self,
        namespace: Mapping[str, Any],
        absent: Collection[str] = (),
        warnings: list[str] | None = None,
        *,
        final: bool = False,
    ) -> None:
        self.namespace, self.final = namespace, final
        self.absent = frozenset(absent)
        self.warnings = warnings if warnings is not None else []
        self.done: dict[tuple[str, ...], Any] = {}
        self.active: dict[tuple[str, ...], None] = {}  # an ordered set: the current chain

    def expand(self, raw: Any, path: tuple[str, ...] | None) -> Any:
        """Resolve ``raw``, found at ``path`` in the namespace (None: outside it)."""
        if isinstance(raw, str):
            return self.substitute(raw) if "${run." in raw else raw
        if isinstance(raw, Mapping):
            return {key: self.child(path, str(key), item) for key, item in raw.items()}
        if isinstance(raw, (list, tuple)):
            items = [self.child(path, str(index), item) for index, item in enumerate(raw)]
            return items if isinstance(raw, list) else tuple(items)
        return raw

    def child(self, path: tuple[str, ...] | None, key: str, raw: Any) -> Any:
        return self.expand(raw, None) if path is None else self.located((*path, key), raw)

    def located(self, path: tuple[str, ...], raw: Any) -> Any:
        """Resolve ``raw``, the value at ``path``, once per resolution."""
        if path in self.done:
            return self.done[path]
        self.enter(path)
        try:
            value = self.expand(raw, path)
        finally:
            del self.active[path]
        self.done[path] = value
        return value

    def lookup(self, path: tuple[str, ...]) -> Any:
        """The resolved value at ``path``."""
        if path in self.done:
            return self.done[path]
        if self.is_absent(path):
            return None
        if self.final:
            self.done[path] = self.walk(path)
            return self.done[path]
        self.enter(path)
        try:
            raw = self.walk(path)
        finally:
            del self.active[path]
        return self.located(path, raw)

    def is_absent(self, path: tuple[str, ...]) -> bool:
        """Whether ``path`` points into an optional section the env file does not have;
        warns once per reference when it does."""
        if len(path) < 3 or path[0] != "run" or path[1] not in self.absent:
            return False
        node: Any = self.namespace
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return False
        reference = "${" + ".".join(path) + "}"
        message = (
            f"{reference} is null: env.toml has no [{path[1]}] section"
            f" (add [{path[1]}] with {path[2]} = ... to set it)"
        )
        if message not in self.warnings:
            self.warnings.append(message)
        return True

    def enter(self, path: tuple[str, ...]) -> None:
        if path in self.active:
            chain = [*self.active][[*self.active].index(path) :]
            text = " -> ".join(".".join(part) for part in (*chain, path))
            raise TemplateError(f"reference cycle {text}", key=".".join(path))
        self.active[path] = None

    def walk(self, path: tuple[str, ...]) -> Any:
        """The raw value at ``path``; strings on the way are resolved before going in."""
        node: Any = self.namespace
        for depth, part in enumerate(path):
            where = path[:depth]
            if isinstance(node, str) and "${run." in node:
                node = self.lookup(where)
            node = _step(node, part, where, path[: depth + 1])
        return node

    def substitute(self, text: str) -> Any:
        whole = RunTemplate.pattern.fullmatch(text)
        if whole is not None and whole.group("braced") and not whole.group("slashes"):
            return copy_tree(self.lookup(tuple(whole.group("braced").split("."))))
        return RunTemplate.pattern.sub(self.replace, text)

    def replace(self, match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "\\" * ((len(match.group("escaped")) - 1) // 2) + "$"
        if match.group("invalid") is not None:
            shown = match.group("invalid").lstrip("\\")
            raise TemplateError(f"malformed reference {shown!r} (expected ${{run.<dotted.path>}})")
        dotted = match.group("braced")
        value = self.lookup(tuple(dotted.split(".")))
        if isinstance(value, (Mapping, list, tuple)):
            hint = "use the reference alone to keep its type"
            raise TemplateError(f"cannot embed {_kind(value)} in a string ({hint})", key=dotted)
        return "\\" * (len(match.group("slashes")) // 2) + str(value)


def _step(node: Any, part: str, where: tuple[str, ...], path: tuple[str, ...]) -> Any:
    """Go from ``node`` (found at ``where``) into its key or index ``part``."""
    dotted = ".".join(path)
    if isinstance(node, Mapping):
        if part in node:
            return node[part]
        by_text = {str(key): key for key in node}
        if part in by_text:
            return node[by_text[part]]
        known = ", ".join(sorted(by_text)) or "none"
        raise TemplateError(f"no such key (known: {known})", key=dotted)
    if isinstance(node, (list, tuple)):
        if part.isdigit() and int(part) < len(node):
            return node[int(part)]
        raise TemplateError(f"no such index ({'.'.join(where)} has {len(node)} items)", key=dotted)
    raise TemplateError(f"{'.'.join(where)} is {_kind(node)}, not a table", key=dotted)
