"""``runspec config`` on a YAML (OmegaConf) recipe against the same recipe with a JSON config.

Both recipes hold the same config (the cookbook's nano3 SFT config, its ``run:`` section
with pinned mounts included) and differ only in ``config.format``: ``omegaconf`` reads
the YAML through the omegaconf extra, ``json`` through the core. Both run as
``python -m runspec config SCRIPT --json`` in fresh interpreters, interleaved in pairs
(alternating which goes first); the result is the median of the per-pair ratios.
Then one ``-X importtime`` run of each says where the difference goes.

    python benchmarks/config_formats.py [--pairs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import median_ms, run_pairs, timed  # noqa: E402

SOURCE = REPO / "tests/data/cookbook/src/nemotron/recipes/nano3/stage1_sft/config/default.yaml"
HEADER = """\
# /// script
# [tool.runspec]
# name = "bench/{format}"
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.config]
# format = "{format}"
# ///
"""


def _recipes(folder: Path) -> tuple[Path, Path]:
    """Write the YAML recipe and its JSON twin; return their scripts."""
    sys.path.insert(0, str(REPO))
    from runspec_extras.omegaconf_config import load_config

    scripts = []
    for fmt, name, text in (
        ("omegaconf", "default.yaml", SOURCE.read_text()),
        ("json", "default.json", json.dumps(load_config(SOURCE), indent=2)),
    ):
        recipe = folder / fmt
        (recipe / "config").mkdir(parents=True)
        (folder / "env.toml").write_text('[wandb]\nproject = "bench"\nentity = "bench"\n')
        (recipe / "config" / name).write_text(text)
        (recipe / "train.py").write_text(HEADER.format(format=fmt))
        scripts.append(recipe / "train.py")
    return scripts[0], scripts[1]


def _imports(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Import time (ms, the modules' own time) of each top-level package one run imports."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)", line)
        if match:
            package = match.group(2).partition(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match.group(1)) / 1000
    return totals


def _cpu(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """CPU seconds (user + system) one run of ``command`` takes: less swayed by load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cpu_ratio(
    ours: list[str], base: list[str], count: int, env: dict[str, str], cwd: Path
) -> float:
    """The median of per-pair CPU time ratios, alternating which goes first."""
    ratios = []
    for pair in range(count):
        first, second = (ours, base) if pair % 2 == 0 else (base, ours)
        times = {id(first): _cpu(first, env, cwd), id(second): _cpu(second, env, cwd)}
        ratios.append(times[id(ours)] / times[id(base)])
    return statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="measured pairs (at least 30)")
    args = parser.parse_args()
    if args.pairs < 30:
        parser.error("--pairs must be at least 30")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "runspec", "runspec_extras"],
                   cwd=REPO, check=True)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNSPEC_ENV_FILE", None)
    with tempfile.TemporaryDirectory() as folder:
        yaml_script, json_script = _recipes(Path(folder))
        yaml_run = [sys.executable, "-m", "runspec", "config", str(yaml_script), "--json"]
        json_run = [sys.executable, "-m", "runspec", "config", str(json_script), "--json"]
        for _ in range(3):  # warm the file cache; not measured
            timed(yaml_run, env, Path(folder))
            timed(json_run, env, Path(folder))
        pairs = run_pairs(yaml_run, json_run, args.pairs, env, Path(folder))
        cpu = _cpu_ratio(yaml_run, json_run, args.pairs, env, Path(folder))
        yaml_imports = _imports(yaml_run, env, Path(folder))
        json_imports = _imports(json_run, env, Path(folder))

    print(f"python:   {sys.version.split()[0]} ({sys.executable})")
    print(f"pairs:    {args.pairs}")
    print(f"json:     median {median_ms(pairs.baseline)}  (runspec config, format = json)")
    print(f"yaml:     median {median_ms(pairs.ours)}  (runspec config, format = omegaconf)")
    print(f"ratio:    median of pair ratios {pairs.ratio:.2f} (yaml / json, wall time)")
    print(f"cpu:      median of pair ratios {cpu:.2f} (yaml / json, user + system time)")
    print("import time by package, YAML run minus JSON run (ms, one -X importtime run each):")
    extra = {name: ms - json_imports.get(name, 0.0) for name, ms in yaml_imports.items()}
    shown = sorted(extra.items(), key=lambda item: -item[1])[:8]
    for name, ms in shown:
        print(f"  {name:<20} {ms:7.1f}")
    print(f"  {'(all imports)':<20} {sum(extra.values()):7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
