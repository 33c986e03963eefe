"""Slurm: ``runspec submit`` against plain ``sbatch`` of the same script, and render throughput.

Submission: a recipe is submitted with ``runspec submit`` (fresh interpreter: assemble the
job config, render, write the job folder, ``sbatch --parsable``, write the record) and the
very script runspec wrote is submitted with plain ``sbatch --parsable``, in interleaved
pairs (alternating which goes first). Jobs are submitted held (a pass-through
``hold = true``) so that running jobs do not load the machine, and are cancelled at the
end. The result is the median of the per-pair ratios. Target: at most 1.3.

Rendering: 1,000 recipe files are parsed and assembled into jobs once, then rendered with
``render_sbatch``; the rate is scripts per second (best of several rounds).

Needs a Slurm cluster that ``sbatch`` reaches, e.g. the local test cluster:
``bash tests/cluster/slurm.sh start && eval "$(bash tests/cluster/slurm.sh env)"``.

    python benchmarks/slurm_submit.py [--pairs 30] [--recipes 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 1.3
RECIPE = REPO / "tests" / "data" / "slurm" / "recipes" / "echo.py"


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout.strip().splitlines()[0]


def submission(pairs: int, folder: Path) -> None:
    env_toml = folder / "env.toml"
    env_toml.write_text(
        "[cluster]\nexecutor = \"slurm\"\npartition = \"debug\"\ngpus_per_node = 0\n"
        f"job_dir = {json.dumps(str(folder / 'jobs'))}\nsbatch = {{ hold = true }}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNSPEC_ENV_FILE": str(env_toml)}
    ours = [sys.executable, "-m", "runspec", "submit", str(RECIPE), "-p", "cluster"]
    ids: list[str] = []
    _, first = timed(ours, env, folder)  # warm-up; its script is the plain baseline
    ids.append(first)
    script = next((folder / "jobs").glob("*/*/sbatch.sh"))
    plain = ["sbatch", "--parsable", str(script)]
    bare = [sys.executable, "-c", "print(0)"]
    ratios, ours_times, plain_times, bare_times = [], [], [], []
    try:
        for index in range(pairs):
            order = [(ours, ours_times), (plain, plain_times)]
            results = {}
            for command, times in order if index % 2 == 0 else order[::-1]:
                seconds, job_id = timed(command, env, folder)
                times.append(seconds)
                results[id(times)] = seconds
                ids.append(job_id.split(";")[0])
            ratios.append(results[id(ours_times)] / results[id(plain_times)])
            bare_times.append(timed(bare, env, folder)[0])
    finally:
        subprocess.run(["scancel", *ids], check=False)
    ratio = statistics.median(ratios)
    print(f"context: a bare python interpreter starts in "
          f"{statistics.median(bare_times) * 1000:.1f} ms")
    print(f"submit: plain sbatch {statistics.median(plain_times) * 1000:.1f} ms, "
          f"runspec submit {statistics.median(ours_times) * 1000:.1f} ms, "
          f"ratio {ratio:.2f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'missed'})")


def rendering(count: int, folder: Path, rounds: int = 5) -> None:
    from runspec import spec
    from runspec.job import assemble
    from runspec.slurm import render_sbatch

    source = RECIPE.read_text()
    (folder / "config").mkdir()
    (folder / "config" / "default.json").write_text('{"exit_code": 0, "sleep": 0}')
    jobs = []
    for index in range(count):
        path = folder / f"recipe_{index}.py"
        path.write_text(source.replace('"slurm-tests/echo"', f'"bench/recipe-{index}"'))
        recipe = spec.load(path)
        jobs.append(assemble(recipe, job_dir=lambda env, i=index: folder / "jobs" / str(i)))
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for job in jobs:
            render_sbatch(job, args=("--seed", "1"), repo=REPO)
        best = min(best, time.perf_counter() - start)
    print(f"render: {count} recipes in {best * 1000:.1f} ms, {count / best:,.0f} scripts/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30, help="interleaved submission pairs")
    parser.add_argument("--recipes", type=int, default=1000, help="recipes to render")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        (Path(temp) / "submit").mkdir()
        (Path(temp) / "render").mkdir()
        rendering(args.recipes, Path(temp) / "render")
        submission(args.pairs, Path(temp) / "submit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
