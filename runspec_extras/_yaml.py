"""YAML text to JSON-ready data and back, in the two dialects runspec reads.

``yaml`` is YAML 1.1 as PyYAML's safe loader reads it. ``omegaconf`` is YAML as
OmegaConf reads it: ``1e-4`` and ``1.5e3`` are floats too (plain YAML 1.1 reads
them as text), and dates are left as the text they were written as.

Either way the data is what JSON can hold: a date or time read as one becomes
its ISO-8601 text (``2024-05-01``, ``2024-05-01T10:30:00+00:00``), ``!!binary``
its base64 text, ``!!set`` a list, ``!!omap`` a mapping, and keys are strings
as JSON writes them (``1`` -> ``"1"``, ``true`` -> ``"true"``, ``null`` ->
``"null"``). A key written twice in one mapping (also ``1`` and ``"1"``) is an
error, as is a value that contains itself. Every problem is one
:class:`~runspec.errors.ConfigError` line with the file and line.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runspec.errors import ConfigError

__all__ = ["DIALECTS", "MAX_VALUES", "YamlDocument", "dump_yaml", "read_yaml"]

#: values (counting every use of an alias) a document may expand to
MAX_VALUES = 1_000_000

_MERGE = "tag:yaml.org,2002:merge"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_ONE_DOCUMENT = "expected a single document in the stream"
# The floats OmegaConf reads beyond YAML 1.1's: an exponent without a dot or without a sign.
_EXPONENT_FLOAT = re.compile(r"[-+]?[0-9]+(?:_[0-9]+)*(?:\.[0-9_]*)?[eE][-+]?[0-9]+\Z")
_FLOAT_FIRST = list("-+0123456789")
_UNICODE_BREAKS = re.compile("[\x85\u2028\u2029]")

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlDocument:
    """A YAML config file read: its data, and the lines of its top-level entries."""

    path: Path
    data: dict[str, Any]
    key_lines: Mapping[str, int]
    #: the line of each item of a top-level list (or of a top-level scalar), by key
    item_lines: Mapping[str, tuple[int, ...]]

    def line(self, key: str, index: int | None = None) -> int | None:
        """The line of top-level ``key`` (or of item ``index`` of its value), when known."""
        if index is not None and index < len(self.item_lines.get(key, ())):
            return self.item_lines[key][index]
        return self.key_lines.get(key)


class _Loader(_Base):  # type: ignore[misc]
    """Safe loading that yields JSON-ready data and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        self._refuse_duplicates(node)
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=deep), key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def _refuse_duplicates(self, node: yaml.MappingNode) -> None:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = _json_key(self.construct_object(key_node), key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"duplicate key {key!r} (first at line {seen[key]})", line=line)
            seen[key] = line

    def construct_timestamp(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_yaml_timestamp(node).isoformat())

    def construct_binary(self, node: yaml.ScalarNode) -> str:
        return base64.b64encode(self.construct_yaml_binary(node)).decode("ascii")

    def construct_set(self, node: yaml.MappingNode) -> list[Any]:
        return [self.construct_object(key, deep=True) for key, _ in node.value]

    def construct_omap(self, node: yaml.SequenceNode) -> dict[str, Any]:
        (pairs,) = self.construct_yaml_omap(node)  # unpacking runs the generator to its end
        return {_json_key(key, node): value for key, value in pairs}

    def construct_pairs(self, node: yaml.SequenceNode) -> list[list[Any]]:
        (pairs,) = self.construct_yaml_pairs(node)
        return [list(pair) for pair in pairs]


for _tag, _constructor in [
    ("timestamp", _Loader.construct_timestamp),
    ("binary", _Loader.construct_binary),
    ("set", _Loader.construct_set),
    ("omap", _Loader.construct_omap),
    ("pairs", _Loader.construct_pairs),
]:
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _constructor)


class _OmegaConfLoader(_Loader):
    """As OmegaConf reads YAML: exponent floats without a dot, dates left as text."""


_OmegaConfLoader.add_implicit_resolver(_FLOAT, _EXPONENT_FLOAT, _FLOAT_FIRST)
_OmegaConfLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in _OmegaConfLoader.yaml_implicit_resolvers.items()
}

#: dialect name -> loader class
DIALECTS: dict[str, Any] = {"yaml": _Loader, "omegaconf": _OmegaConfLoader}


def _json_key(key: Any, node: yaml.Node) -> str:
    """A mapping key as JSON writes it; keys JSON cannot hold are refused."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)
    raise ConfigError(
        f"a key must be a string, number, bool or null (got {_kind(key)})",
        line=node.start_mark.line + 1,
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else type(value).__name__


def read_yaml(path: Path, dialect: str) -> YamlDocument:
    """Read a YAML config file in ``dialect``; an empty file is an empty mapping."""
    text = _read_text(path)
    try:
        return _parse(text, path, DIALECTS[dialect])
    except ConfigError as error:
        error.path = path
        raise


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError("is a folder, not a config file", path=path) from None
    except FileNotFoundError:
        raise ConfigError("no such config file", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} (column {column})"
        raise ConfigError(message, path=path, line=line) from None
    return text[1:] if text.startswith("\ufeff") else text


def _parse(text: str, path: Path, loader_class: Any) -> YamlDocument:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, {}, {}, {})
        if "*" in text:  # without an alias nothing can repeat or contain itself
            _check_aliases(node)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        message = f"a config must be a mapping at the top (got {_kind(data)})"
        raise ConfigError(message, line=node.start_mark.line + 1)
    if "\\" in text:  # only an escape can make a lone surrogate
        _refuse_surrogates(data)
    return YamlDocument(path, data, *_top_lines(node))


def _syntax_error(exc: yaml.YAMLError, text: str) -> ConfigError:
    if isinstance(exc, yaml.composer.ComposerError) and exc.context == _ONE_DOCUMENT:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return ConfigError("invalid YAML: a config is one document (found a second)", line=line)
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        detail = f"{exc.problem or exc.context} (column {mark.column + 1})"
        context = exc.context_mark
        if exc.problem and exc.context and context is not None and context.line != mark.line:
            detail += f", {exc.context} at line {context.line + 1}"
        return ConfigError(f"invalid YAML: {_one_line(detail)}", line=mark.line + 1)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: {exc.reason} (character #x{exc.character:04x})"
        return ConfigError(message, line=line)
    return ConfigError(f"invalid YAML: {_one_line(str(exc))}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a value that contains itself, or aliases that expand past :data:`MAX_VALUES`."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            active.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[id(node)] > MAX_VALUES:
                problem = f"aliases expand to more than {MAX_VALUES} values"
                raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        elif id(node) in active:
            problem = "a value contains itself (a recursive alias)"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        elif id(node) not in sizes:
            active.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _refuse_surrogates(data: dict[str, Any]) -> None:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError("invalid YAML: an escape is a lone surrogate, not UTF-8 text") from None


def _top_lines(root: yaml.Node) -> tuple[dict[str, int], dict[str, tuple[int, ...]]]:
    key_lines: dict[str, int] = {}
    item_lines: dict[str, tuple[int, ...]] = {}
    pairs = root.value if isinstance(root, yaml.MappingNode) else []  # not for a top !!omap
    for key_node, value_node in pairs:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key_lines[key_node.value] = key_node.start_mark.line + 1
        items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        item_lines[key_node.value] = tuple(item.start_mark.line + 1 for item in items)
    return key_lines, item_lines


class _Dumper(yaml.SafeDumper):
    """Block-style YAML that both dialects read back as the same data."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if _UNICODE_BREAKS.search(data):
        style: str | None = '"'  # PyYAML's emitter breaks these in other styles
    else:
        style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
# Quote what either dialect would read as something else: "1e-4" is a float to OmegaConf.
_Dumper.add_implicit_resolver(_FLOAT, _EXPONENT_FLOAT, _FLOAT_FIRST)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """YAML text of JSON-like ``data``, keys in order, that :func:`read_yaml` reads back."""
    text: str = yaml.dump(
        _plain(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**31,
        default_flow_style=False,
    )  # fmt: skip
    return text


def _plain(value: Any) -> Any:
    """Dicts and lists in place of other mappings and sequences (read-only views, tuples)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
