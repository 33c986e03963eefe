"""Discovery: ``runspec list`` over 10,000 files against ``grep -rl '^# /// script'``.

Generates a tree of .py files in a temporary folder (by default 10,000, of which 1,000 are
recipes with a valid block and the rest ordinary Python of about the same size), checks
that both commands find exactly the recipes, then times them in interleaved pairs, twice:
*warm*, with the index ``list`` keeps in ``.runspec/`` (nothing changed since the last
``list``), and *cold*, with the index removed before every run (the first ``list`` of a
tree, or one after every file changed). Both with the operating system's file cache warm,
as grep's is. Prints the median of the per-pair ratios with their min-max.
Targets: at most 2 warm, at most 3 cold.

    python benchmarks/discovery.py [--files 10000] [--recipes 1000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import median_ms, run_pairs, timed  # noqa: E402

TARGETS = {"warm": 2.0, "cold": 3.0}

RECIPE = '''\
# /// script
# requires-python = ">=3.10"
# dependencies = ["numpy>=1.26"]
#
# [tool.runspec]
# schema = "1"
# name = "bench/recipe-{n:05d}"
# image = "nvcr.io/nvidia/pytorch:25.12-py3"
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.resources]
# nodes = {nodes}
# gpus_per_node = 8
# ///
"""Benchmark recipe {n}."""
'''

CODE = '''\
"""Module {n}: ordinary code that happens to mention # /// script in a string."""

from __future__ import annotations

import math

NOTE = "a PEP 723 block starts with '# /// script' on its own line"


def step_{n}(values: list[float], rate: float = 0.1) -> list[float]:
    """Scale and shift the values; nothing runspec cares about."""
    total = sum(values) or 1.0
    return [math.tanh(rate * value / total) for value in values]


class Model{n}:
    """A small class so the file has the shape of real code."""

    def __init__(self, width: int = {n}) -> None:
        self.width = width
        self.weights = [0.0] * width

    def forward(self, values: list[float]) -> list[float]:
        return step_{n}(values)
'''


def generate(root: Path, files: int, recipes: int) -> None:
    """Write ``files`` .py files under ``root`` in nested folders; every k-th is a recipe."""
    every = files // recipes
    for n in range(files):
        folder = root / f"pkg{n // 1000:02d}" / f"sub{(n // 100) % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        if n % every == 0:
            text = RECIPE.format(n=n, nodes=1 + n % 4) + CODE.format(n=n)
        else:
            text = CODE.format(n=n)
        (folder / f"mod_{n:05d}.py").write_text(text, encoding="utf-8")


def verify(tree: Path, env: dict[str, str], recipes: int) -> None:
    """Both commands must find exactly the recipes, or the comparison means nothing."""
    listed = subprocess.run(
        [sys.executable, "-m", "runspec", "list", "--json", str(tree)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    grepped = subprocess.run(
        ["grep", "-rl", "^# /// script", str(tree)], capture_output=True, text=True, check=True
    )
    found = len(json.loads(listed.stdout)), len(grepped.stdout.splitlines())
    if found != (recipes, recipes):
        raise SystemExit(f"expected {recipes} recipes, runspec/grep found {found}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--recipes", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if shutil.which("grep") is None:
        raise SystemExit("needs grep on PATH")

    subprocess.run([sys.executable, "-m", "compileall", "-q", "runspec"], cwd=REPO, check=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C"}
    with tempfile.TemporaryDirectory(prefix="runspec-discovery-") as tmp:
        tree = Path(tmp)
        generate(tree, args.files, args.recipes)
        verify(tree, env, args.recipes)
        runspec_cmd = [sys.executable, "-m", "runspec", "list", str(tree)]
        grep_cmd = ["grep", "-rl", "^# /// script", str(tree)]
        timed(runspec_cmd, env)  # warm the file cache and write the index; not measured
        timed(grep_cmd, env)
        results = {
            "warm": run_pairs(runspec_cmd, grep_cmd, args.rounds, env),
            "cold": run_pairs(
                runspec_cmd, grep_cmd, args.rounds, env,
                prepare=lambda: shutil.rmtree(tree / ".runspec", ignore_errors=True),
            ),
        }  # fmt: skip

    print(f"tree: {args.files} .py files, {args.recipes} recipes, {args.rounds} pairs each")
    for kind, pairs in results.items():
        verdict = "met" if pairs.ratio <= TARGETS[kind] else "MISSED"
        print(f"{kind}: grep {median_ms(pairs.baseline)}, runspec list {median_ms(pairs.ours)};"
              f" ratio {pairs.summary()} (target <= {TARGETS[kind]:g}: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
