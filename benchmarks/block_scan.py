"""Reading a recipe's block: 600-line scripts against the same scripts cut after their block.

Each script is a recipe block followed by 600 lines of real Python (consecutive lines of
standard-library modules: code, comments, docstrings); its cut twin ends right after the
block. Both sets are read in-process, in interleaved rounds, by runspec
(``declaration.read``: scan, TOML, the recipe's description: what ``show`` does but print)
and by the PyPA reference parser (read the text, its regular expression, ``tomllib``).
Prints, for each, the median over rounds of time(full) / time(cut) with its min-max.
Target for runspec: at most 1.1 (the rest of a file should cost next to nothing).

    python benchmarks/block_scan.py [--scripts 40] [--rounds 30]
"""

from __future__ import annotations

import argparse
import inspect
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runspec._toml import loads  # noqa: E402

try:
    from runspec.declaration import read as read_recipe
except ImportError:  # a checkout from before runspec.declaration, for a before/after figure
    from runspec.spec import parse as read_recipe  # type: ignore[assignment]

TARGET = 1.1
BLOCK = """\
#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10"
# dependencies = ["torch>=2.4", "numpy>=1.26"]
#
# [tool.runspec]
# schema = "1"
# name = "bench/recipe-{n:03d}"
# image = "nvcr.io/nvidia/pytorch:25.12-py3"
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.resources]
# nodes = 2
# gpus_per_node = 8
# ///
"""
PYPA = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def real_code(lines: int) -> list[str]:
    """Runs of ``lines`` consecutive lines from standard-library modules."""
    import argparse as a
    import json.decoder as b
    import tarfile as c
    import zipfile as e

    import tomllib._parser as d

    runs = []
    for module in (a, b, c, d, e):
        source = inspect.getsource(module).splitlines(keepends=True)
        runs += ["".join(source[i : i + lines]) for i in range(0, len(source) - lines, lines)]
    return runs


def write_scripts(folder: Path, count: int) -> tuple[list[Path], list[Path]]:
    runs = real_code(600)
    full, cut = [], []
    for n in range(count):
        block = BLOCK.format(n=n)
        full.append(folder / f"full_{n:03d}.py")
        full[-1].write_text(block + runs[n % len(runs)], encoding="utf-8")
        cut.append(folder / f"cut_{n:03d}.py")
        cut[-1].write_text(block, encoding="utf-8")
    return full, cut


def reference(path: Path) -> object:
    """The specification's reference reading: the whole text, its regex, then TOML."""
    text = path.read_text(encoding="utf-8")
    found = [m for m in PYPA.finditer(text) if m.group("type") == "script"]
    body = found[0].group("content").split("\n")[:-1]
    return loads("".join(line[2:] + "\n" for line in body))


def rounds(
    read: Callable[[Path], object], full: list[Path], cut: list[Path], count: int
) -> list[float]:
    ratios = []
    for round_ in range(count + 2):  # two warm-up rounds
        times = {}
        for name in (("full", "cut") if round_ % 2 else ("cut", "full")):
            paths = full if name == "full" else cut
            start = time.process_time()
            for path in paths:
                read(path)
            times[name] = time.process_time() - start
        if round_ >= 2:
            ratios.append(times["full"] / times["cut"])
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runspec-scan-") as tmp:
        full, cut = write_scripts(Path(tmp), args.scripts)
        assert [read_recipe(p) for p in full] != []
        results = {
            "runspec": rounds(read_recipe, full, cut, args.rounds),
            "reference": rounds(reference, full, cut, args.rounds),
        }
        lines = full[0].read_text(encoding="utf-8").count("\n")
    print(f"{args.scripts} scripts of {lines} lines against them cut after the block,"
          f" {args.rounds} rounds")  # fmt: skip
    for name, ratios in results.items():
        median = statistics.median(ratios)
        verdict = "met" if median <= TARGET else "MISSED"
        target = f" (target <= {TARGET}: {verdict})" if name == "runspec" else ""
        spread = f"(min-max {min(ratios):.2f}-{max(ratios):.2f})"
        print(f"{name:9} full / cut: {median:.2f} {spread}{target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
