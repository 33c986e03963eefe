"""W&B tracking with the real wandb package, offline: the run folder holds what was logged.

The offline run's ``.wandb`` file is read with :func:`records` (W&B's record log: 32 KiB
blocks of CRC-framed chunks holding ``wandb_internal_pb2.Record`` messages).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, require_module

BLOCK = 32 * 1024


def records(path: Path) -> Iterator[Any]:
    """The protobuf records of a W&B run file."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        payload, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending + payload)
            pending = b""
            yield record
        elif kind in (2, 3):
            pending += payload


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    require_module("wandb")
    (tmp_path / ".git").mkdir()
    (tmp_path / "env.toml").write_text('[artifacts]\nroot = "registry"\nwandb = true\n')
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "train.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "src" / "sub" / "valid.jsonl").write_text('{"b": 2}\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WANDB_", "RUNSPEC_"))}
    env.update({
        "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "WANDB_SILENT": "true",
        "WANDB_PROJECT": "runspec-tests", "WANDB_DIR": str(tmp_path / "wandb-runs"),
        "WANDB_DATA_DIR": str(tmp_path / "wandb-data"), "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"), "HOME": str(tmp_path),
    })  # fmt: skip
    return env


def run_file(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "wandb-runs" / "wandb").glob("offline-run-*/run-*.wandb")
    return found


def md5(path: Path) -> str:
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def test_publishing_logs_a_wandb_artifact(tmp_path: Path, offline: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runspec", "artifacts", "publish", "data", "src", "--meta", "rows=2"],
        cwd=tmp_path, env=offline, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (artifact,) = [r.artifact for r in records(run_file(tmp_path)) if r.WhichOneof("record_type") == "artifact"]
    assert (artifact.name, artifact.type) == ("data", "runspec-artifact")
    assert sorted(artifact.aliases) == ["latest", "v1"]
    metadata = json.loads(artifact.metadata)
    assert (metadata["ref"], metadata["metadata"], metadata["file_count"]) == ("data:v1", {"rows": 2}, 2)
    entries = {entry.path: entry for entry in artifact.manifest.contents}
    assert sorted(entries) == ["sub/valid.jsonl", "train.jsonl"]
    for name, entry in entries.items():
        assert entry.digest == md5(tmp_path / "src" / name)
        assert Path(entry.local_path).read_bytes() == (tmp_path / "src" / name).read_bytes()


USE = """
import wandb
from omegaconf import OmegaConf
from runspec_extras.omegaconf_config import load_job_config
run = wandb.init()
print(OmegaConf.to_container(load_job_config(["--config", "config.yaml"]), resolve=True)["v"])
run.finish()
"""


def test_using_a_version_is_recorded_on_the_run(tmp_path: Path, offline: dict[str, str]) -> None:
    require_module("omegaconf")
    from runspec_extras.artifacts import Registry

    Registry(str(tmp_path / "registry")).publish("data", str(tmp_path / "src"))
    (tmp_path / "config.yaml").write_text("run:\n  data: data:latest\nv: ${art:data,version}\n")
    done = subprocess.run(
        [sys.executable, "-c", USE], cwd=tmp_path, env=offline,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "v1\n"), done.stderr
    configs = [r.config for r in records(run_file(tmp_path)) if r.WhichOneof("record_type") == "config"]
    used = [json.loads(item.value_json) for config in configs for item in config.update if item.key == "runspec_artifacts"]
    assert used[-1] == {"data": "data:v1"}


def test_a_reference_version_is_logged_as_references(tmp_path: Path, offline: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runspec", "artifacts", "publish", "data", "src", "--reference"],
        cwd=tmp_path, env=offline, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (artifact,) = [r.artifact for r in records(run_file(tmp_path)) if r.WhichOneof("record_type") == "artifact"]
    assert json.loads(artifact.metadata)["mode"] == "reference"
    entries = {entry.path: entry.ref for entry in artifact.manifest.contents}
    source = (tmp_path / "src").resolve()
    assert entries == {
        "sub/valid.jsonl": f"file://{source}/sub/valid.jsonl",
        "train.jsonl": f"file://{source}/train.jsonl",
    }
