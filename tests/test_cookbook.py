"""Conformance with the cookbook: real recipes, their YAML configs, an env.toml in its dialect.

tests/data/cookbook/ holds 10 recipes of a public cookbook with their config folders and
``expected.json``: what the format's reference loader gives for each recipe x config x
profile (see its README). For every case, ``runspec config`` gives the same config body,
the same artifact references under ``run`` and, for the ``pretrain`` profile, the same
``run.env`` resources and mounts; ``runspec sbatch`` renders the expected image, node
count, ``batch`` partition and startup commands and passes ``bash -n``; ``run -r
pretrain --dry-run`` goes to the ``interactive`` partition.

Golden file: tests/golden/cookbook/nano3-sft-pretrain.sh (regenerate with
``RUNSPEC_REGEN_GOLDEN=1 python -m pytest tests/test_cookbook.py``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runspec import spec
from tests.support import REPO, Result, require_module

COOKBOOK = Path(__file__).parent / "data" / "cookbook"
EXPECTED: dict[str, dict[str, Any]] = json.loads((COOKBOOK / "expected.json").read_text())
CASES = sorted(EXPECTED)
PRETRAIN = [case for case in CASES if case.endswith("|pretrain")]
RESOURCES = ("container_image", "container", "nodes", "gpus_per_node", "ntasks_per_node")
RESOURCES += ("nproc_per_node", "mounts")


@pytest.fixture
def cookbook(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI from the cookbook folder (its env.toml is found there)."""
    require_module("omegaconf")
    require_module("yaml")
    monkeypatch.chdir(COOKBOOK)
    return cli


def _arguments(case: str) -> list[str]:
    script, config, profile = case.split("|")
    arguments = [script]
    if config != "default":
        arguments += ["-c", config]
    if profile != "local":
        arguments += ["-p", profile]
    return arguments


def _body(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in ("run", "artifacts")}


@pytest.mark.parametrize("case", CASES)
def test_config_matches_the_reference(cookbook, case):
    expected = EXPECTED[case]
    done = cookbook("config", *_arguments(case), "--json")
    assert done.code == 0, done.err
    assert done.err == ""
    job = json.loads(done.out)
    assert job["run"]["config"]["path"] == str(COOKBOOK / expected["config_file"])
    assert _body(job) == _body(expected["train"])
    references = expected["train"].get("run", {})
    assert {key: job["run"].get(key) for key in references} == references
    if case.endswith("|pretrain"):
        env, want = job["run"]["env"], expected["run_env"]
        assert {k: env.get(k) for k in RESOURCES} == {k: want.get(k) for k in RESOURCES}


@pytest.mark.parametrize("case", PRETRAIN)
def test_sbatch_renders_the_expected_job(cookbook, case):
    expected = EXPECTED[case]["run_env"]
    done = cookbook("sbatch", *_arguments(case))
    assert done.code == 0, done.err
    text = done.out
    recipe = spec.parse(COOKBOOK / case.split("|")[0])
    image = expected.get("container") or recipe.image
    images = set(re.findall(r"--container-image=(\S+)", text))
    assert images == ({shlex.quote(image)} if image else set())
    assert f"#SBATCH --nodes={expected['nodes']}\n" in text
    assert "#SBATCH --partition=batch\n" in text
    lines = text.splitlines()
    startup = lines.index("# runspec: startup commands")
    assert lines[startup + 1 : startup + 2] == expected["startup_commands"]
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


@pytest.mark.parametrize("case", PRETRAIN)
def test_an_attached_dry_run_uses_the_interactive_partition(cookbook, case):
    script, config, _ = case.split("|")
    arguments = [script, *(["-c", config] if config != "default" else []), "-r", "pretrain"]
    done = cookbook("run", *arguments, "--dry-run")
    assert done.code == 0, done.err
    assert "#SBATCH --partition=interactive\n" in done.out


def test_a_pinned_sft_job_golden(cookbook):
    done = cookbook("sbatch", "src/nemotron/recipes/nano3/stage1_sft/train.py", "-p", "pretrain")
    assert done.code == 0, done.err
    text = re.sub(r"/nano3-sft/[0-9]{8}-[0-9]{6}(-[0-9]+)?", "/nano3-sft/<stamp>", done.out)
    text = re.sub(r"/\.runspec/code/[0-9a-f]+", "/.runspec/code/<snapshot>", text)
    path = REPO / "tests" / "golden" / "cookbook" / "nano3-sft-pretrain.sh"
    if os.environ.get("RUNSPEC_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()
    # Over ssh the pins are checked out on the cluster, in [cache] git_dir (a cluster path).
    cache = "login.cluster.example.com in /lustre/fsw/my-account/users/me/git-cache"
    assert done.err == (
        "runspec: warning: run.env.mounts.0: https://github.com/NVIDIA/Megatron-LM.git"
        f"@bbbedbb9f53343762e4dc70abc771b813a83d817 is checked out on {cache} when the job is"
        " submitted\n"
        "runspec: warning: run.env.mounts.1: https://github.com/NVIDIA-NeMo/Megatron-Bridge.git"
        f"@romeyn/parquet-sequence-pack is checked out on {cache} when the job is submitted\n"
    )


def test_the_gpu_placeholder_recipe_runs_with_the_profile_gpus(cookbook):
    done = cookbook("config", "src/nemotron/recipes/embed/stage2_finetune/train.py", "--explain")
    assert done.code == 0, done.err
    assert re.search(r"^gpus_per_node = 8 +# default$", done.out, re.M), done.out
    sized = cookbook("config", "src/nemotron/recipes/embed/stage2_finetune/train.py", "-p", "pretrain", "--explain")
    assert re.search(r"^gpus_per_node = 8 +# profile pretrain$", sized.out, re.M), sized.out
