"""``${art:NAME,FIELD}`` in configs, ``art://`` paths, and what a job records of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runspec_extras.artifacts import Registry
from runspec_extras.artifacts.context import clear_cache, publish
from tests.support import REPO, require_module


@pytest.fixture(autouse=True)
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    require_module("omegaconf")
    clear_cache()
    root = tmp_path / "registry"
    monkeypatch.setenv("RUNSPEC_ARTIFACTS_ROOT", str(root))
    monkeypatch.delenv("RUNSPEC_JOB_DIR", raising=False)
    for name in ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"):
        monkeypatch.delenv(name, raising=False)
    source = tmp_path / "src"
    source.mkdir()
    (source / "blend.json").write_text('{"train": 1}')
    registry = Registry(str(root))
    registry.publish("tiny-data", str(source), metadata={"pack_size": 4096, "split": {"a": 1}})
    registry.publish("tiny-data", str(source), metadata={"pack_size": 8192})
    return registry


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def load(path: Path) -> dict[str, object]:
    from omegaconf import OmegaConf

    from runspec_extras.omegaconf_config import load_job_config

    loaded = OmegaConf.to_container(load_job_config(["--config", str(path)]), resolve=True)
    assert isinstance(loaded, dict)
    return loaded


def test_art_fields(tmp_path: Path, registry: Registry) -> None:
    latest = registry.resolve("tiny-data")
    path = config(tmp_path, """\
run:
  data: tiny-data:latest
  old: tiny-data:v1
recipe:
  blend: ${art:data,path}/blend.json
  default_field: ${art:data}
  version: ${art:data,version}
  name: ${art:data,name}
  ref: ${art:old,ref}
  pack: ${art:data,pack_size}
  old_pack: ${art:old,pack_size}
  nested: ${art:old,split}
  direct: ${art:tiny-data:v1,version}
""")
    recipe = load(path)["recipe"]
    assert recipe == {
        "blend": f"{latest.path}/blend.json",
        "default_field": latest.path,
        "version": "v2",
        "name": "tiny-data",
        "ref": "tiny-data:v1",
        "pack": 8192,
        "old_pack": 4096,
        "nested": {"a": 1},
        "direct": "v1",
    }


ERRORS = [
    ("unknown-field", "${art:data,seq_len}", "${art:data,seq_len}: tiny-data:v2 has no field 'seq_len' (fields: path, version, name, ref, created_at; metadata: pack_size)"),
    ("unknown-name", "${art:model,path}", "${art:model,path}: 'model' is neither a reference under run (references: run.data) nor an artifact in the registry (artifacts: tiny-data)"),
    ("unknown-version", "${art:tiny-data:v9,path}", "${art:tiny-data:v9,path}: tiny-data has no version v9 (versions: v1, v2)"),
]


@pytest.mark.parametrize(("value", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_art_errors_say_what_exists(tmp_path: Path, value: str, message: str) -> None:
    from omegaconf.errors import InterpolationResolutionError

    path = config(tmp_path, f"run:\n  data: tiny-data:latest\nx: {value}\n")
    with pytest.raises(InterpolationResolutionError) as caught:
        load(path)
    assert str(caught.value).splitlines()[0] == f"ArtifactError raised while resolving interpolation: {message}"


def test_registry_from_the_config_artifacts_section(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNSPEC_ARTIFACTS_ROOT")
    path = config(tmp_path, f"artifacts:\n  root: {registry.root}\nrun:\n  data: tiny-data:v1\nv: ${{art:data,version}}\n")
    assert load(path)["v"] == "v1"


def test_art_url_reads_files(registry: Registry) -> None:
    require_module("fsspec")
    from runspec_extras.artifacts.filesystem import ArtFileSystem

    fs = ArtFileSystem()
    assert fs.cat_file("art://tiny-data/blend.json") == b'{"train": 1}'
    assert fs.cat_file("art://tiny-data:v1/blend.json") == b'{"train": 1}'
    assert fs.ls("art://tiny-data:v1", detail=False) == ["tiny-data:v1/blend.json"]
    assert fs.info("art://tiny-data/blend.json")["size"] == 12
    with fs.open("art://tiny-data/blend.json") as handle:
        assert handle.read() == b'{"train": 1}'
    with pytest.raises(PermissionError, match="art:// is read-only"):
        fs.open("art://tiny-data/new.txt", "wb")


def test_art_url_through_the_fsspec_entry_point(tmp_path: Path, registry: Registry) -> None:
    """setup.cfg's fsspec.specs entry, installed as metadata, makes fsspec.open find art://."""
    require_module("fsspec")
    import configparser

    parsed = configparser.ConfigParser()
    parsed.read(REPO / "setup.cfg")
    specs = parsed["options.entry_points"]["fsspec.specs"]
    site = tmp_path / "site" / "runspec_art_probe-0.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text("Metadata-Version: 2.1\nName: runspec-art-probe\nVersion: 0\n")
    (site / "entry_points.txt").write_text(f"[fsspec.specs]\n{specs.strip()}\n")
    code = "import fsspec; print(fsspec.open('art://tiny-data/blend.json').open().read().decode())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path / "site")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, '{"train": 1}\n'), done.stderr


def test_a_job_records_what_it_used_and_publishes_with_it(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = tmp_path / "job"
    job.mkdir()
    (job / "runspec.json").write_text('{"argv": ["run", "train.py"]}')
    monkeypatch.setenv("RUNSPEC_JOB_DIR", str(job))
    path = config(tmp_path, "run:\n  data: tiny-data:latest\np: ${art:data,path}\n")
    load(path)
    from runspec_extras.artifacts.filesystem import ArtFileSystem

    ArtFileSystem().cat_file("art://tiny-data:v1/blend.json")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.pt").write_text("w")
    made = publish("model", tmp_path / "model")
    assert [item.ref for item in made.inputs] == ["tiny-data:v2", "tiny-data:v1"]
    assert made.producer is not None
    assert (made.producer["job_dir"], made.producer["record"]) == (str(job), {"argv": ["run", "train.py"]})
    used = sorted(json.loads(p.read_text())["via"] for p in (job / "artifacts" / "used").iterdir())
    assert used == ["${art:data,path}", "art://"]


RANK_SCRIPT = """
import sys
from omegaconf import OmegaConf
from runspec_extras.omegaconf_config import load_job_config
print(OmegaConf.to_container(load_job_config(sys.argv[1:]), resolve=True)["v"])
"""


def rank_process(rank: int, job: Path, path: Path, **extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RANK": str(rank), "RUNSPEC_JOB_DIR": str(job), **extra}
    return subprocess.Popen(
        [sys.executable, "-c", RANK_SCRIPT, "--config", str(path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_rank_zero_resolves_once_for_the_job(tmp_path: Path, registry: Registry) -> None:
    job = tmp_path / "job"
    job.mkdir()
    path = config(tmp_path, "run:\n  data: tiny-data:latest\nv: ${art:data,version}\n")
    waiting = rank_process(1, job, path)
    first = rank_process(0, job, path)
    assert first.communicate(timeout=120)[0] == "v2\n"
    assert waiting.communicate(timeout=120)[0] == "v2\n"
    registry.publish("tiny-data", str(tmp_path / "src"))  # v3 appears during the job
    late = rank_process(0, job, path)
    assert late.communicate(timeout=120)[0] == "v2\n", "a job sees one version throughout"
    (saved,) = (job / "artifacts" / "resolved").iterdir()
    assert json.loads(saved.read_text())["version"] == 2


def test_other_ranks_stop_waiting_with_a_clear_error(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    path = config(tmp_path, "run:\n  data: tiny-data:latest\nv: ${art:data,version}\n")
    alone = rank_process(3, job, path, RUNSPEC_ARTIFACTS_TIMEOUT="0.3")
    _, err = alone.communicate(timeout=120)
    assert alone.returncode != 0
    assert "waited 0.3s for rank 0 to resolve 'tiny-data:latest' into " in err
    assert "is rank 0 running? (set RUNSPEC_ARTIFACTS_TIMEOUT to wait longer)" in err


def test_a_failure_on_rank_zero_reaches_the_others(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    path = config(tmp_path, "run:\n  data: tiny-data:v9\nv: ${art:data,version}\n")
    first = rank_process(0, job, path)
    other = rank_process(1, job, path)
    for proc in (first, other):
        _, err = proc.communicate(timeout=120)
        assert "${art:data,version}: tiny-data has no version v9 (versions: v1, v2)" in err


@pytest.mark.parametrize("section", ['[artifacts]\nroot = "../registry"\n', '[artifacts.manifest]\nroot = "../registry"\n'], ids=["root", "manifest-root"])
def test_art_url_and_resolver_find_the_registry_in_env_toml(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    """No RUNSPEC_ARTIFACTS_ROOT, no job config: the env.toml runspec finds names the root
    (relative to the env.toml), for art:// and ${art:...} alike."""
    require_module("fsspec")
    from runspec_extras.artifacts.filesystem import ArtFileSystem

    for name in ("RUNSPEC_ARTIFACTS_ROOT", "RUNSPEC_ENV_FILE", "RUNSPEC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "env.toml").write_text(section)
    monkeypatch.chdir(project)
    clear_cache()
    assert ArtFileSystem().cat_file("art://tiny-data:v1/blend.json") == b'{"train": 1}'
    path = config(project, "run:\n  data: tiny-data\nv: ${art:data,version}\n")
    assert load(path)["v"] == "v2"
