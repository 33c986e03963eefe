"""``runspec artifacts lineage``: the whole tree back to the roots, as text and as JSON.

One model made from data (itself made from raw), a tokenizer of another registry, raw
again (drawn once, then "see above") and a version that is gone (shown with why).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runspec_extras.artifacts import Input, Registry
from tests.support import Result


@pytest.fixture
def family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Publish the family; return each version's created_at by ref, and the roots."""
    monkeypatch.setenv("RUNSPEC_ARTIFACTS_ROOT", str(tmp_path / "registry"))
    monkeypatch.delenv("RUNSPEC_JOB_DIR", raising=False)
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a")
    home, other = Registry(str(tmp_path / "registry")), Registry(str(tmp_path / "other"))
    raw = home.publish("raw", str(source))
    data = home.publish("data", str(source), inputs=[raw],
                        producer={"job_dir": "/jobs/prep/1"})  # fmt: skip
    tokenizer = other.publish("tokenizer", str(source))
    gone = Input("gone", 3, home.root)
    model = home.publish("model", str(source), inputs=[data, tokenizer, raw, gone],
                         producer={"job_dir": "/jobs/train/2"})  # fmt: skip
    made = {version.ref: version.created_at for version in (raw, data, tokenizer, model)}
    return {**made, "home": home.root, "other": other.root}


def test_the_tree_as_text(cli: Callable[..., Result], family: dict[str, str]) -> None:
    done = cli("artifacts", "lineage", "model")
    assert (done.code, done.err) == (0, "")
    home = family["home"]
    assert done.out.splitlines() == [
        f"model:v1  {family['model:v1']}  job /jobs/train/2",
        f"├── data:v1  {family['data:v1']}  job /jobs/prep/1",
        f"│   └── raw:v1  {family['raw:v1']}",
        f"├── tokenizer:v1 [{family['other']}]  {family['tokenizer:v1']}",
        "├── raw:v1  (see above)",
        f"└── gone:v3  (no artifact 'gone' in {home} (artifacts: data, model, raw))",
    ]


def test_the_tree_as_json(cli: Callable[..., Result], family: dict[str, str]) -> None:
    done = cli("artifacts", "lineage", "model:v1", "--json")
    assert done.code == 0, done.err
    home, other = family["home"], family["other"]
    raw = {"ref": "raw:v1", "root": home, "created_at": family["raw:v1"], "job_dir": None}
    assert json.loads(done.out) == {
        "ref": "model:v1", "root": home, "created_at": family["model:v1"],
        "job_dir": "/jobs/train/2",
        "inputs": [
            {"ref": "data:v1", "root": home, "created_at": family["data:v1"],
             "job_dir": "/jobs/prep/1", "inputs": [{**raw, "inputs": []}]},
            {"ref": "tokenizer:v1", "root": other, "created_at": family["tokenizer:v1"],
             "job_dir": None, "inputs": []},
            {**raw, "repeated": True, "inputs": []},
            {"ref": "gone:v3", "root": home,
             "problem": f"no artifact 'gone' in {home} (artifacts: data, model, raw)",
             "inputs": []},
        ],
    }  # fmt: skip
