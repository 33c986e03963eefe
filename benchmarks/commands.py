"""``runspec sbatch`` and ``runspec config`` against ``runspec show`` of the same recipe.

Whole processes, in interleaved pairs: what assembling a job (profile, config, overrides)
and rendering its batch script add to a command that only reads the recipe. The recipe
is a torchrun recipe with a JSON config and an env.toml with a Slurm profile, in a folder
that is not a git repository. Prints each median ratio with its min-max.
Target: at most 1.1 for both.

    python benchmarks/commands.py [--pairs 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import median_ms, run_pairs, timed  # noqa: E402
from render import ENV_TOML, RECIPE  # noqa: E402

TARGET = 1.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "runspec"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory(prefix="runspec-commands-") as tmp:
        folder = Path(tmp)
        (folder / "config").mkdir()
        (folder / "config" / "default.json").write_text('{"lr": 0.001}\n', encoding="utf-8")
        (folder / "pretrain.py").write_text(RECIPE, encoding="utf-8")
        (folder / "env.toml").write_text(ENV_TOML, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(REPO), "RUNSPEC_ENV_FILE": str(folder / "env.toml")}
        runspec = [sys.executable, "-m", "runspec"]
        show = [*runspec, "show", "pretrain.py"]
        commands = {
            "config": [*runspec, "config", "pretrain.py", "-p", "cluster", "lr=0.01"],
            "sbatch": [*runspec, "sbatch", "pretrain.py", "-p", "cluster", "lr=0.01"],
        }
        for command in (show, *commands.values()):  # warm caches; not measured
            timed(command, env, folder)
        results = {name: run_pairs(cmd, show, args.pairs, env, folder)
                   for name, cmd in commands.items()}  # fmt: skip
    print(f"{args.pairs} interleaved pairs each, python {sys.version.split()[0]}")
    for name, pairs in results.items():
        verdict = "met" if pairs.ratio <= TARGET else "MISSED"
        print(f"{name}: {median_ms(pairs.ours)} against show {median_ms(pairs.baseline)};"
              f" ratio {pairs.summary()} (target <= {TARGET}: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
