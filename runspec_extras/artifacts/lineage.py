"""The lineage of a version: the tree of versions it was made from, back to the roots.

:func:`trace` walks ``inputs`` (following them into other registries when a version
was made from one elsewhere); :func:`render` draws the tree as text and
:func:`to_json` gives it as data. A version reached twice is drawn once and then
marked ``(see above)``; one that cannot be read is shown with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArtifactError
from .registry import Registry
from .version import Version

__all__ = ["Node", "render", "to_json", "trace"]


@dataclass(frozen=True)
class Node:
    """One version in a lineage tree, with the versions it was made from."""

    ref: str
    root: str
    version: Version | None
    inputs: tuple[Node, ...] = ()
    repeated: bool = False
    problem: str | None = None


def trace(registry: Registry, reference: str) -> Node:
    """The lineage tree of ``reference`` (``name[:version|alias]``) in ``registry``."""
    opened = {registry.root: registry}
    return _node(registry.resolve(reference), opened, set())


def _node(version: Version, opened: dict[str, Registry], seen: set[tuple[str, str]]) -> Node:
    key = (version.root, version.ref)
    if key in seen:
        return Node(version.ref, version.root, version, repeated=True)
    seen.add(key)
    children = []
    for item in version.inputs:
        try:
            registry = opened.get(item.root) or opened.setdefault(item.root, Registry(item.root))
            found = registry.resolve(item.ref)
        except (ArtifactError, OSError) as exc:
            children.append(Node(item.ref, item.root, None, problem=str(exc)))
            continue
        children.append(_node(found, opened, seen))
    return Node(version.ref, version.root, version, tuple(children))


def _line(node: Node, home: str) -> str:
    where = "" if node.root == home else f" [{node.root}]"
    if node.version is None:
        return f"{node.ref}{where}  ({node.problem})"
    if node.repeated:
        return f"{node.ref}{where}  (see above)"
    job = (node.version.producer or {}).get("job_dir")
    made = f"  job {job}" if job else ""
    return f"{node.ref}{where}  {node.version.created_at}{made}"


def render(node: Node) -> str:
    """The tree as text, the version first and what it was made from below it."""
    lines = [_line(node, node.root)]

    def walk(parent: Node, indent: str) -> None:
        for index, child in enumerate(parent.inputs):
            last = index == len(parent.inputs) - 1
            lines.append(f"{indent}{'└── ' if last else '├── '}{_line(child, node.root)}")
            walk(child, indent + ("    " if last else "│   "))

    walk(node, "")
    return "\n".join(lines) + "\n"


def to_json(node: Node) -> dict[str, object]:
    """The tree as JSON data: each node's ref, root, job folder and inputs."""
    data: dict[str, object] = {"ref": node.ref, "root": node.root}
    if node.version is not None:
        data["created_at"] = node.version.created_at
        data["job_dir"] = (node.version.producer or {}).get("job_dir")
    if node.repeated:
        data["repeated"] = True
    if node.problem:
        data["problem"] = node.problem
    data["inputs"] = [to_json(child) for child in node.inputs]
    return data
