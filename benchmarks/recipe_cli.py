"""A repository's recipe CLI against ``runspec run SCRIPT --dry-run``, in a repository of 200.

Builds a repository of ``--recipes`` recipes (default 200, each a script with its config
folder, named ``groupN/recipeM``, plus ``nano3/pretrain``) and a ``cli.py`` made with
``runspec.cli.recipe_cli``, then times, in interleaved pairs (which side goes first
alternates), ``python cli.py nano3 pretrain -d`` (the command tree from the discovery
index, the recipe found by name, the dry run drawn as a tree) against
``python -m runspec run recipes/nano3/pretrain/train.py --dry-run`` (the script by path,
the plain dry run). The index is warm (a first, untimed call builds it), as it is on
every call after the first. Prints both medians and the median of the per-pair ratios
with min-max (wall time; CPU time too where benchmarks/_paired.py measures it). Target:
at most 1.2.

    python benchmarks/recipe_cli.py [--recipes 200] [--pairs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _paired import median_ms, run_pairs  # noqa: E402

TARGET = 1.2
RECIPE = """\
# /// script
# requires-python = ">=3.10"
#
# [tool.runspec]
# schema = "1"
# name = "{name}"
# image = "nvcr.io/nvidia/nemo:25.11"
# setup = "Everything is in the image."
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.config]
# dir = "./config"
# default = "default"
# format = "json"
#
# [tool.runspec.resources]
# nodes = 2
# gpus_per_node = 8
#
# [tool.runspec.env]
# NCCL_DEBUG = "WARN"
# ///
\"\"\"A training recipe ({name}); the body is what a real one would import and run.\"\"\"

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as handle:
        print(json.load(handle)["train"])


if __name__ == "__main__":
    main()
"""
CONFIG = '{"train": {"train_iters": 1000, "lr": 0.0003}, "data": {"path": "/data"}}\n'
CLI = """\
import sys
from runspec.cli import recipe_cli
sys.exit(recipe_cli("recipes", prog="bench")())
"""


def build(folder: Path, count: int) -> None:
    """The repository: ``count`` recipes in groups of 10, one of them nano3/pretrain."""
    (folder / "pyproject.toml").write_text("", encoding="utf-8")
    (folder / "cli.py").write_text(CLI, encoding="utf-8")
    names = ["nano3/pretrain"] + [f"group{i // 10}/recipe{i % 10}" for i in range(count - 1)]
    for name in names:
        script = folder / "recipes" / name / "train.py"
        (script.parent / "config").mkdir(parents=True)
        script.write_text(RECIPE.format(name=name), encoding="utf-8")
        (script.parent / "config" / "default.json").write_text(CONFIG, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=200, help="recipes in the repository")
    parser.add_argument("--pairs", type=int, default=30, help="timed pairs")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # start from cached bytecode, as users do
    env.pop("RUNSPEC_ENV_FILE", None)
    with tempfile.TemporaryDirectory(prefix="runspec-recipe-cli-") as tmp:
        folder = Path(tmp)
        build(folder, args.recipes)
        ours = [sys.executable, "cli.py", "nano3", "pretrain", "-d"]
        baseline = [sys.executable, "-m", "runspec", "run", "recipes/nano3/pretrain/train.py",
                    "--dry-run"]  # fmt: skip
        for command in (ours, baseline):  # warm: the index, the bytecode, the page cache
            subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True)
        pairs = run_pairs(ours, baseline, args.pairs, env, cwd=folder)
    ratios = pairs.ratios
    print(f"{args.recipes} recipes, {args.pairs} interleaved pairs")
    print(f"bench nano3 pretrain -d:                   {median_ms(pairs.ours)}")
    print(f"runspec run recipes/.../train.py --dry-run: {median_ms(pairs.baseline)}")
    verdict = "met" if pairs.ratio <= TARGET else "MISSED"
    print(f"ratio: {pairs.ratio:.2f} (min-max {min(ratios):.2f}-{max(ratios):.2f})"
          f" (target <= {TARGET}: {verdict})")  # fmt: skip
    cpu = getattr(pairs, "cpu_ratios", None)
    if cpu:
        spread = f"{min(cpu):.2f}-{max(cpu):.2f}"
        print(f"CPU time ratio: {statistics.median(cpu):.2f} (min-max {spread})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
