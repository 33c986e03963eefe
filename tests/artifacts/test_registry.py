"""The registry through its public API, on a local folder, memory:// and S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runspec_extras.artifacts import ArtifactError, Input, Reference, Registry


def tree(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def read(registry: Registry, path: str) -> str:
    data: bytes = registry.store.fs.cat_file(path)
    return data.decode()


def test_publish_copies_files_and_numbers_versions(registry_url: str, tmp_path: Path) -> None:
    source = tree(tmp_path / "src", {"train.jsonl": "a\n", "sub/valid.jsonl": "bb\n"})
    registry = Registry(registry_url)
    first = registry.publish("data", str(source), metadata={"rows": 2})
    second = registry.publish("data", str(source))
    assert (first.version, second.version) == (1, 2)
    assert (first.ref, first.label, first.mode) == ("data:v1", "v1", "copy")
    assert dict(first.files) == {"sub/valid.jsonl": 3, "train.jsonl": 2}
    assert (first.size, first.file_count, dict(first.metadata)) == (5, 2, {"rows": 2})
    assert read(registry, first.path + "/sub/valid.jsonl") == "bb\n"
    assert registry.resolve("data").ref == "data:v2"
    assert registry.resolve("data:latest") == second
    assert registry.resolve("data:v1") == first
    assert registry.resolve("data:1") == first
    assert registry.list() == ("data",)
    assert [v.ref for v in registry.versions("data")] == ["data:v1", "data:v2"]


def test_manifest_json_describes_the_version(registry_url: str, tmp_path: Path) -> None:
    source = tree(tmp_path / "src", {"x.bin": "xyz"})
    registry = Registry(registry_url)
    parent = registry.publish("raw", str(source))
    made = registry.publish(
        "data", str(source), metadata={"pack_size": 4096}, inputs=[parent],
        producer={"job_dir": "/jobs/prep", "record": {"argv": ["run"]}},
    )  # fmt: skip
    manifest = json.loads(read(registry, registry.store.path("data", "v1", "manifest.json")))
    assert manifest["name"] == "data" and manifest["version"] == 1
    assert manifest["format"] == "runspec-artifact/1"
    assert manifest["metadata"] == {"pack_size": 4096}
    assert manifest["producer"] == {"job_dir": "/jobs/prep", "record": {"argv": ["run"]}}
    assert manifest["inputs"] == [{"name": "raw", "version": 1, "root": registry.root}]
    assert manifest["path"].startswith("files/") and manifest["files"] == {"x.bin": 3}
    assert manifest["created_at"].endswith("Z")
    assert made.inputs == (Input("raw", 1, registry.root),)


def test_single_file_source_becomes_a_folder_holding_it(registry_url: str, tmp_path: Path) -> None:
    source = tree(tmp_path / "src", {"model.pt": "weights"})
    version = Registry(registry_url).publish("model", str(source / "model.pt"))
    assert dict(version.files) == {"model.pt": 7}


def test_reference_mode_records_the_source_without_copying(
    registry_url: str, tmp_path: Path
) -> None:
    source = tree(tmp_path / "src", {"a": "1", "b/c": "22"})
    registry = Registry(registry_url)
    version = registry.publish("big", str(source), mode="reference")
    assert (version.mode, version.path, version.file_count, version.size) == (
        "reference", str(source), 2, 3,
    )  # fmt: skip
    assert dict(version.files) == {}
    assert not registry.store.exists(registry.store.path("big", "files"))


def test_aliases(registry_url: str, tmp_path: Path) -> None:
    source = tree(tmp_path / "src", {"a": "1"})
    registry = Registry(registry_url)
    for _ in range(3):
        registry.publish("model", str(source))
    assert registry.alias("model", "v2", "best").ref == "model:v2"
    assert registry.resolve("model:best").version == 2
    registry.alias("model", 1, "best")
    assert registry.aliases("model") == {"best": 1, "latest": 3}
    assert registry.resolve("model:best").version == 1


def test_metadata_must_be_json(tmp_path: Path) -> None:
    source = tree(tmp_path / "src", {"a": "1"})
    with pytest.raises(ArtifactError, match=r"^metadata must be JSON data: "):
        Registry(str(tmp_path / "r")).publish("x", str(source), metadata={"a": {1, 2}})


ERRORS = [
    ("unknown-name", "nope", "no artifact 'nope' in {root} (artifacts: data)"),
    ("unknown-name-version", "nope:v2", "no artifact 'nope' in {root} (artifacts: data)"),
    ("unknown-version", "data:v9", "data has no version v9 (versions: v1, v2)"),
    ("unknown-alias", "data:best", "data has no alias 'best' (aliases: latest)"),
    ("version-zero", "data:v0", "invalid reference 'data:v0': versions start at v1"),
    ("bad-selector", "data:-x", "invalid reference 'data:-x': expected NAME, NAME:vN or NAME:ALIAS"),
    ("bad-name", "../etc", "invalid artifact name '../etc': use letters, digits, '.', '_' and '-', starting with a letter or digit"),
    ("empty", "", "invalid artifact name '': use letters, digits, '.', '_' and '-', starting with a letter or digit"),
]


@pytest.mark.parametrize(("ref", "message"), [case[1:] for case in ERRORS], ids=[c[0] for c in ERRORS])
def test_resolve_errors_say_what_exists(tmp_path: Path, ref: str, message: str) -> None:
    registry = Registry(str(tmp_path / "registry"))
    source = tree(tmp_path / "src", {"a": "1"})
    registry.publish("data", str(source))
    registry.publish("data", str(source))
    with pytest.raises(ArtifactError) as caught:
        registry.resolve(ref)
    assert str(caught.value) == message.format(root=registry.root)


PUBLISH_ERRORS = [
    ("missing-source", "data", "missing", {}, "nothing to publish: no such file or folder '{src}/missing'"),
    ("empty-source", "data", "empty", {}, "nothing to publish: '{src}/empty' holds no files"),
    ("bad-mode", "data", "full", {"mode": "move"}, "unknown publish mode 'move' (modes: copy, reference)"),
    ("bad-name", "a b", "full", {}, "invalid artifact name 'a b': use letters, digits, '.', '_' and '-', starting with a letter or digit"),
]


@pytest.mark.parametrize(
    ("name", "folder", "options", "message"),
    [case[1:] for case in PUBLISH_ERRORS], ids=[c[0] for c in PUBLISH_ERRORS],
)  # fmt: skip
def test_publish_errors(
    tmp_path: Path, name: str, folder: str, options: dict[str, str], message: str
) -> None:
    (tmp_path / "src" / "empty").mkdir(parents=True)
    tree(tmp_path / "src" / "full", {"a": "1"})
    registry = Registry(str(tmp_path / "registry"))
    with pytest.raises(ArtifactError) as caught:
        registry.publish(name, str(tmp_path / "src" / folder), **options)  # type: ignore[arg-type]
    assert str(caught.value) == message.format(src=tmp_path / "src")
    assert registry.list() == ()


ALIAS_ERRORS = [
    ("latest", "latest", "'latest' always names the newest version and cannot be set"),
    ("version-like", "v3", "invalid alias 'v3': use letters, digits, '.', '_' and '-', starting with a letter, and not of the form v<N>"),
    ("slash", "a/b", "invalid alias 'a/b': use letters, digits, '.', '_' and '-', starting with a letter, and not of the form v<N>"),
]


@pytest.mark.parametrize(("alias", "message"), [c[1:] for c in ALIAS_ERRORS], ids=[c[0] for c in ALIAS_ERRORS])
def test_alias_errors(tmp_path: Path, alias: str, message: str) -> None:
    registry = Registry(str(tmp_path / "registry"))
    registry.publish("data", str(tree(tmp_path / "src", {"a": "1"})))
    with pytest.raises(ArtifactError) as caught:
        registry.alias("data", 1, alias)
    assert str(caught.value) == message


def test_alias_to_a_missing_version(tmp_path: Path) -> None:
    registry = Registry(str(tmp_path / "registry"))
    registry.publish("data", str(tree(tmp_path / "src", {"a": "1"})))
    with pytest.raises(ArtifactError, match=r"^data has no version v4 \(versions: v1\)$"):
        registry.alias("data", 4, "best")


def test_empty_registry(registry_url: str) -> None:
    registry = Registry(registry_url)
    assert registry.list() == ()
    assert registry.versions("data") == ()
    with pytest.raises(ArtifactError, match=r"^no artifact 'data' in .* \(artifacts: none\)$"):
        registry.resolve("data")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("data", Reference("data", alias="latest")),
        ("data:latest", Reference("data", alias="latest")),
        ("data:v12", Reference("data", version=12)),
        ("data:12", Reference("data", version=12)),
        ("my.model-2_b:best", Reference("my.model-2_b", alias="best")),
    ],
)
def test_reference_parse(text: str, parsed: Reference) -> None:
    assert Reference.parse(text) == parsed
    assert str(parsed) == f"{parsed.name}:{parsed.selector}"


def test_local_registry_layout(tmp_path: Path) -> None:
    registry = Registry(f"file://{tmp_path}/registry")
    version = registry.publish("data", str(tree(tmp_path / "src", {"a": "1"})))
    assert registry.root == str(tmp_path / "registry")
    assert Path(version.path).parent == tmp_path / "registry" / "data" / "files"
    assert sorted(p.name for p in (tmp_path / "registry" / "data").iterdir()) == [
        "files", "latest.json", "v1",
    ]  # fmt: skip
    assert json.loads((tmp_path / "registry" / "data" / "latest.json").read_text()) == {"version": 1}
