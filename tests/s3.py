"""A real S3 API for the tests: moto's server on a free loopback port, reached through s3fs.

Run as ``python -m tests.s3`` it serves until stopped and prints its port first. The
server applies one request at a time: moto checks ``If-None-Match`` and stores the
object in two steps, while S3 itself makes a conditional write atomic, and the tests
must exercise S3's guarantee, not moto's race. Fixtures: :func:`s3_endpoint` (one
server per test session) and :func:`s3_env` (a fresh bucket and the ``AWS_*``
variables that point boto, s3fs and every subprocess at it, never at a real account).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

__all__ = ["s3_endpoint", "s3_env"]


def _serve() -> None:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    backend = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with lock:
            return list(backend(environ, start_response))

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, serialized, threaded=True, request_handler=Quiet)
    print(server.server_port, flush=True)
    server.serve_forever()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start moto's S3 server for the session and return its endpoint URL."""
    pytest.importorskip("moto.server", reason="needs moto[server] (pip install 'moto[server]')")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.s3"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    port = server.stdout.readline().strip()
    if not port.isdigit():
        server.kill()
        _, err = server.communicate(timeout=30)
        pytest.fail(f"moto's S3 server did not start: {err[-2000:]}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.communicate(timeout=30)


@pytest.fixture
def s3_env(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A fresh bucket; the ``AWS_*`` variables set in this process (and so its children).

    Returns the variables plus ``"bucket"``. Nothing outside the test is read: the AWS
    config and credentials files point into ``tmp_path``.
    """
    pytest.importorskip("s3fs", reason="needs s3fs (pip install s3fs)")
    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    import boto3

    boto3.client("s3").create_bucket(Bucket=bucket)
    return {**env, "bucket": bucket}


if __name__ == "__main__":
    _serve()
