"""``runspec artifacts``: list, show, publish, get, alias and trace artifact versions.

The core command line hands ``runspec artifacts ARGS`` to :func:`main` (imported only
then). Errors are raised as :class:`~runspec.errors.RunspecError` for the core's
``main`` to print in one line; a usage error exits with status 2 as argparse does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import ArtifactError
from .settings import Settings

__all__ = ["main"]

_Handler = Callable[[argparse.Namespace], int]


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="registry root (default: RUNSPEC_ARTIFACTS_ROOT, env.toml)")
    common.add_argument("--env-file", help="env.toml to read [artifacts] from")
    return common


def _parser(sub: Any, name: str, summary: str, example: str, json_flag: bool = True) -> Any:
    parser = sub.add_parser(
        name, help=summary, description=summary, parents=[_common()],
        epilog="example:\n  " + example, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``runspec artifacts``."""
    parser = argparse.ArgumentParser(
        prog="runspec artifacts",
        description="Versioned artifacts in the registry of env.toml's [artifacts] section.",
    )
    sub = parser.add_subparsers(dest="action", metavar="COMMAND", required=True)
    add = _parser(sub, "list", "List the artifacts.", "runspec artifacts list --json")
    add.set_defaults(handler=_list)
    add = _parser(sub, "show", "Show a version.", "runspec artifacts show data:v2 --files")
    add.add_argument("ref", metavar="NAME[:VERSION]")
    add.add_argument("--files", action="store_true", help="list the version's files")
    add.set_defaults(handler=_show)
    add = _parser(sub, "publish", "Publish a file or folder as the next version.",
                  "runspec artifacts publish data ./out --meta rows=1000")  # fmt: skip
    add.add_argument("name")
    add.add_argument("path", help="file, folder or fsspec URL to publish")
    add.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                     help="metadata (VALUE read as JSON when it is, else text)")  # fmt: skip
    add.add_argument("--reference", action="store_true",
                     help="record where the files are instead of copying them")  # fmt: skip
    add.set_defaults(handler=_publish)
    add = _parser(sub, "get", "Copy a version's files into a folder.",
                  "runspec artifacts get data:latest ./data", json_flag=False)  # fmt: skip
    add.add_argument("ref", metavar="NAME[:VERSION]")
    add.add_argument("dest", help="folder to create (must not exist, or be empty)")
    add.set_defaults(handler=_get)
    add = _parser(sub, "alias", "Point an alias at a version.",
                  "runspec artifacts alias model v3 best", json_flag=False)  # fmt: skip
    add.add_argument("name")
    add.add_argument("version", help="vN")
    add.add_argument("alias")
    add.set_defaults(handler=_alias)
    add = _parser(sub, "lineage", "Show what a version was made from, back to the roots.",
                  "runspec artifacts lineage model:v2 --json")  # fmt: skip
    add.add_argument("ref", metavar="NAME[:VERSION]")
    add.set_defaults(handler=_lineage)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``runspec artifacts`` with ``argv`` (the words after ``artifacts``)."""
    args = build_parser().parse_args(list(argv))
    handler: _Handler = args.handler
    try:
        return handler(args)
    except OSError as exc:  # the store itself failed: unreachable, refused, full
        raise ArtifactError(f"{_settings(args).root}: {exc}") from exc


def _settings(args: argparse.Namespace) -> Settings:
    found = Settings.find(env_file=args.env_file)
    if args.root:
        return Settings(args.root, "--root", found.storage_options, found.wandb)
    return found


def _registry(args: argparse.Namespace) -> Any:
    from .context import configured_registry

    return configured_registry(_settings(args))


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    rows = []
    for name in registry.list():
        versions = registry.versions(name)
        aliases = registry.aliases(name)
        latest = versions[-1]
        rows.append({
            "name": name, "latest": latest.label, "versions": len(versions),
            "created_at": latest.created_at, "aliases": aliases_of(aliases, latest.version),
        })  # fmt: skip
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no artifacts in {registry.root}", file=sys.stderr)
        return 0
    table = [("NAME", "LATEST", "VERSIONS", "CREATED")]
    table += [(r["name"], r["latest"], str(r["versions"]), r["created_at"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
              + "  " + row[3])  # fmt: skip
    return 0


def aliases_of(table: dict[str, int], number: int) -> list[str]:
    """The aliases in ``table`` that point at version ``number``."""
    return [alias for alias, target in table.items() if target == number]


def _show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    version = registry.resolve(args.ref)
    aliases = aliases_of(registry.aliases(version.name), version.version)
    if args.json:
        _print_json({**version.to_dict(files=args.files), "aliases": aliases})
        return 0
    print(render_version(version, aliases, files=args.files), end="")
    return 0


def render_version(version: Any, aliases: list[str], *, files: bool = False) -> str:
    """A version as ``show`` prints it."""
    producer = version.producer or {}
    made_by = producer.get("job_dir") or "-"
    rows = [
        ("path", version.path),
        ("created", version.created_at),
        ("mode", version.mode),
        ("files", f"{version.file_count} ({_count(version.size, 'byte')})"),
        ("source", version.source),
        ("job", made_by),
        ("inputs", ", ".join(item.ref for item in version.inputs) or "-"),
        ("aliases", ", ".join(aliases) or "-"),
    ]
    rows += [(f"meta.{key}", json.dumps(value)) for key, value in version.metadata.items()]
    width = max(len(key) for key, _ in rows)
    lines = [version.ref] + [f"  {key.ljust(width)}  {value}" for key, value in rows]
    if files:
        lines += [f"  {name}  {size}" for name, size in version.files.items()]
    return "\n".join(lines) + "\n"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _meta(items: Sequence[str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise ArtifactError(f"--meta takes KEY=VALUE (got {item!r})")
        try:
            metadata[key] = json.loads(text)
        except ValueError:
            metadata[key] = text
    return metadata


def _publish(args: argparse.Namespace) -> int:
    from .context import publish

    metadata = _meta(args.meta)
    mode = "reference" if args.reference else "copy"
    version = publish(args.name, args.path, metadata=metadata, mode=mode, settings=_settings(args))
    if args.json:
        _print_json(version.to_dict())
    else:
        count, size = _count(version.file_count, "file"), _count(version.size, "byte")
        print(f"published {version.ref}: {count}, {size}, at {version.path}")
    return 0


def _get(args: argparse.Namespace) -> int:
    import os

    from .context import use
    from .store import Store
    from .transfer import Source, copy_into

    if os.path.exists(args.dest) and (not os.path.isdir(args.dest) or os.listdir(args.dest)):
        raise ArtifactError(f"{args.dest}: exists and is not an empty folder")
    version = use(args.ref, via="runspec artifacts get", settings=_settings(args))
    source = Source.open(version.path)
    target = Store(os.path.abspath(args.dest))
    copy_into(source, target, target.root)
    print(f"{version.ref}: {_count(len(source.files), 'file')} into {args.dest}")
    return 0


def _alias(args: argparse.Namespace) -> int:
    version = _registry(args).alias(args.name, args.version, args.alias)
    print(f"{version.name}:{args.alias} -> {version.label}")
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from .lineage import render, to_json, trace

    tree = trace(_registry(args), args.ref)
    if args.json:
        _print_json(to_json(tree))
    else:
        print(render(tree), end="")
    return 0
