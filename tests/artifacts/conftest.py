"""Fixtures of the artifact tests: registry roots on a local folder, memory:// and S3."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.s3 import s3_endpoint, s3_env
from tests.support import require_module

__all__ = ["registry_url", "s3_endpoint", "s3_env"]


@pytest.fixture(params=["local", "memory", "s3"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty registry root on each kind of store."""
    require_module("fsspec")
    if request.param == "local":
        return str(tmp_path / "registry")
    if request.param == "memory":
        return f"memory://registry-{uuid.uuid4().hex}"
    env = request.getfixturevalue("s3_env")
    return f"s3://{env['bucket']}/registry"
