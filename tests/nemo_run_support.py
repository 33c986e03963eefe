"""Building real runspec jobs for the nemo-run executor tests: a recipe in a git repository,
an env.toml, a job assembled from them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runspec.job import Job, assemble, select_profile
from runspec.spec import load
from tests.support import block

RECIPE = """\
[tool.runspec]
schema = "1"
name = "{name}"
image = "{image}"

[tool.runspec.run]
launch = "{launch}"

[tool.runspec.config]
dir = "./config"
default = "default"
format = "{format}"

[tool.runspec.resources]
nodes = 1
gpus_per_node = 0

[tool.runspec.env]
RECIPE_GREETING = "hello"
"""

TRAIN = """\
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--config")
options, rest = parser.parse_known_args()
if options.config.endswith(".yaml"):
    import yaml
    config = yaml.safe_load(open(options.config))
else:
    config = json.load(open(options.config))
rank = os.environ.get("RANK", "-")
print(f"rank {rank} lr {config['train']['lr']} greeting {os.environ.get('RECIPE_GREETING')} "
      f"nccl {os.environ.get('NCCL_DEBUG')} args {rest}", flush=True)
"""


def import_nemo_run() -> None:
    """Import nemo-run once, quietly: its own imports raise deprecation warnings that the
    test suite otherwise turns into errors."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import nemo_run  # noqa: F401

        import runspec_extras.nemo_run_executors  # noqa: F401


def git(folder: Path, *args: str) -> None:
    """Run git in ``folder`` with a fixed identity, failing loudly."""
    identity = ["-c", "user.email=test@example.com", "-c", "user.name=test"]
    subprocess.run(["git", "-C", str(folder), *identity, *args], check=True, capture_output=True)


def make_repo(
    root: Path,
    *,
    name: str = "demo/train",
    launch: str = "direct",
    image: str = "",
    code: str = TRAIN,
    commit: bool = True,
    format: str = "json",
) -> Path:
    """A git repository holding ``recipes/train.py`` with a JSON (or ``format = "yaml"``)
    config; returns the script."""
    script = root / "recipes" / "train.py"
    (script.parent / "config").mkdir(parents=True, exist_ok=True)
    header = RECIPE.format(name=name, launch=launch, image=image, format=format)
    if not image:
        header = header.replace('image = ""\n', "")
    script.write_text(block(header) + code, encoding="utf-8")
    if format == "json":
        config, suffix = '{"train": {"lr": 0.1, "steps": 2}}\n', "json"
    else:
        config, suffix = "train:\n  lr: 0.1\n  steps: 2\n", "yaml"
    (script.parent / "config" / f"default.{suffix}").write_text(config, encoding="utf-8")
    if commit:
        git(root, "init", "-q")
        git(root, "add", ".")
        git(root, "commit", "-qm", "recipe")
    return script


def make_job(
    script: Path, env_toml: str, profile: str, *overrides: str, folder: Path | None = None
) -> Job:
    """Assemble the job runspec would run for ``script`` with ``profile`` of ``env_toml``."""
    env_file = script.parent.parent / "env.toml"
    env_file.write_text(env_toml, encoding="utf-8")
    envfile, chosen = select_profile(profile, str(env_file))
    job = assemble(load(script), envfile=envfile, profile=chosen, overrides=overrides)
    if folder is None:
        return job
    folder.mkdir(parents=True, exist_ok=True)
    import dataclasses

    return dataclasses.replace(job, dir=folder)
