"""A job's ``run.env``: the config file's ``run.env``, the profile and the recipe header, merged.

Where a key of the job's ``run.env`` comes from, strongest first:

==================  ===========================================================================
source              wins for
==================  ===========================================================================
command line        everything (``run.env.nodes=4``)
config file         the resource keys (:data:`RESOURCE_KEYS`): a config knows what it needs
profile             every other key; ``env_vars`` merge by name (the profile wins a clash);
                    ``mounts`` are the config file's, then the profile's
recipe header       ``nodes`` and ``gpus_per_node`` from ``[tool.runspec.resources]``
default             ``executor = "local"``
==================  ===========================================================================

``container`` is another name for ``container_image``: the two are one key here, and
the merged table keeps the spelling of the source that won. :class:`RunEnv` also
remembers where each leaf came from, for ``runspec config --explain``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._merge import copy_tree, deep_merge
from .profiles import canonical, toml_key, toml_value

if TYPE_CHECKING:
    from .overrides import Override
    from .profiles import Profile
    from .spec import Runspec

__all__ = ["RESOURCE_KEYS", "RunEnv", "explain_json", "image_of", "partition_for", "render_explain"]

RESOURCE_KEYS = ("container_image", "nodes", "gpus_per_node", "ntasks_per_node", "nproc_per_node")
"""Keys where the config file's ``run.env`` beats the profile."""

_DEFAULT = "default"
_HEADER = "header"
_CONFIG = "config file"
_COMMAND_LINE = "command line"


def image_of(env: Mapping[str, Any]) -> Any:
    """The container image a ``run.env`` names (``container_image`` or ``container``), or None."""
    for key in ("container_image", "container"):
        if env.get(key) is not None:
            return env[key]
    return None


def partition_for(env: Mapping[str, Any], attached: bool) -> tuple[str, Any]:
    """(key, value) of the partition a job goes to.

    Attached runs (``run -p``/``-r``, following the job) use ``run_partition``, detached
    ones (``run -b``, ``submit``, ``sbatch``) ``batch_partition``; both fall back to
    ``partition``. The value is None when none is set.
    """
    own = "run_partition" if attached else "batch_partition"
    if env.get(own) is not None:
        return own, env[own]
    return "partition", env.get("partition")


@dataclass(frozen=True)
class _Layer:
    """One source of ``run.env`` values and how to name where a leaf of it came from."""

    values: Mapping[str, Any]
    label: str
    leaf_labels: Mapping[tuple[str, ...], str] = field(default_factory=dict)

    def spelling(self, name: str) -> str | None:
        """The key this layer writes for canonical ``name``, or None (a null is not set)."""
        for key, value in self.values.items():
            if canonical(key) == name and value is not None:
                return key
        return None

    def origin(self, leaf: tuple[str, ...]) -> str:
        return self.leaf_labels.get(leaf, self.label)


@dataclass(frozen=True)
class RunEnv:
    """A merged ``run.env`` and, for every leaf key path, the source it came from.

    A source is ``default``, ``header``, ``config file``, ``profile NAME`` (the profile
    of the ``extends`` chain that wrote it) or ``command line``; a list merged from two
    sources (``mounts``) names both.
    """

    values: Mapping[str, Any]
    origins: Mapping[tuple[str, ...], str]

    @classmethod
    def merge(cls, spec: Runspec, profile: Profile | None, config_env: Mapping[str, Any]) -> RunEnv:
        """Merge the recipe header, the config file's ``run.env`` and the profile."""
        header = {"nodes": spec.resources.nodes, "gpus_per_node": spec.resources.gpus}
        layers = [
            _Layer({"executor": "local", "nodes": 1, "gpus_per_node": 8}, _DEFAULT),
            _Layer({k: v for k, v in header.items() if v is not None}, _HEADER),
            _Layer(config_env, _CONFIG),
        ]
        if profile is not None:
            labels = {leaf: f"profile {name}" for leaf, name in profile.leaf_origins.items()}
            layers.append(_Layer(profile.values, f"profile {profile.name}", labels))
        values: dict[str, Any] = {}
        origins: dict[tuple[str, ...], str] = {}
        for name in dict.fromkeys(canonical(key) for layer in layers for key in layer.values):
            having = [layer for layer in layers if layer.spelling(name) is not None]
            if not having:
                continue
            key, value, sources = _merge_key(name, having)
            values[key] = value
            origins.update(_origins(key, value, sources))
        return cls(MappingProxyType(values), MappingProxyType(origins))

    def overridden(self, values: Mapping[str, Any], overrides: Sequence[Override]) -> RunEnv:
        """This env after command-line ``overrides`` made it ``values``.

        An overridden key gives up its other spelling (``run.env.container_image=x``
        drops a ``container`` from the config file).
        """
        env = ("run", "env")
        paths = [o.path[2:] for o in overrides if env[: len(o.path)] == o.path[:2]]
        result = dict(values)
        for path in paths:
            if path and path[0] in result:
                for other in [k for k in result if k != path[0]]:
                    if canonical(other) == canonical(path[0]):
                        del result[other]
        origins = {}
        for leaf in _leaves(result):
            touched = any(leaf[: len(p)] == p or p[: len(leaf)] == leaf for p in paths)
            origins[leaf] = _COMMAND_LINE if touched else self.origins.get(leaf, _COMMAND_LINE)
        return RunEnv(MappingProxyType(result), MappingProxyType(origins))


def render_explain(
    env: Mapping[str, Any], origins: Mapping[tuple[str, ...], str], heading: str
) -> str:
    """Each leaf of a job's ``run.env`` as TOML, with the source it came from
    (``runspec config --explain``); ``heading`` is the first line's comment."""
    rows = [
        (f"{toml_key(leaf)} = {toml_value(_at(env, leaf))}", origins.get(leaf, _COMMAND_LINE))
        for leaf in _leaves(env)
    ]
    width = max((len(text) for text, _ in rows), default=0)
    lines = [f"# {heading}", *(f"{text:<{width}}  # {origin}" for text, origin in rows)]
    return "\n".join(lines) + "\n"


def explain_json(env: Mapping[str, Any], origins: Mapping[tuple[str, ...], str]) -> dict[str, Any]:
    """``runspec config --explain --json``: the ``run.env`` and each dotted leaf's source."""
    sources = {".".join(leaf): origins.get(leaf, _COMMAND_LINE) for leaf in _leaves(env)}
    return {"env": copy_tree(env), "origins": sources}


def _at(table: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = table
    for part in path:
        node = node[part]
    return node


def _merge_key(name: str, having: list[_Layer]) -> tuple[str, Any, list[_Layer]]:
    """(spelling, merged value, the layers it came from) for canonical key ``name``,
    given the layers that set it, weakest first."""
    if name in RESOURCE_KEYS:  # the config file beats the profile
        having.sort(key=lambda layer: layer.label == _CONFIG)
    elif name == "mounts":
        lists = [layer for layer in having if isinstance(layer.values["mounts"], list)]
        if len(lists) == len(having) > 1:
            merged = [copy_tree(item) for layer in having for item in layer.values["mounts"]]
            return "mounts", merged, having
    value: Any = None
    sources: list[_Layer] = []
    for layer in having:
        own = layer.values[layer.spelling(name) or name]
        if isinstance(value, Mapping) and isinstance(own, Mapping):
            value, sources = deep_merge(value, own), [*sources, layer]
        else:
            value, sources = copy_tree(own), [layer]
    return sources[-1].spelling(name) or name, value, sources


def _origins(
    key: str, value: Any, sources: Sequence[_Layer]
) -> Iterator[tuple[tuple[str, ...], str]]:
    for leaf in _leaves({key: value}):
        writers = [layer for layer in sources if _holds(layer.values, leaf)]
        if isinstance(value, list) and len(writers) > 1:
            yield leaf, ", then ".join(layer.origin(leaf) for layer in writers)
        else:
            yield leaf, (writers or list(sources))[-1].origin(leaf)


def _leaves(table: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf key path: tables are walked into, lists and scalars are leaves."""
    for key, value in table.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, (*prefix, str(key)))
        else:
            yield (*prefix, str(key))


def _holds(table: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    """Whether ``table`` writes the leaf ``path`` (its first key in either spelling)."""
    first = next((key for key in table if canonical(key) == canonical(path[0])), None)
    if first is None or table[first] is None:
        return False
    node: Any = table[first]
    for part in path[1:]:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
