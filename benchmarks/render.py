"""Rendering a batch script: ``render_sbatch`` against submitit's ``_make_sbatch_string``.

The same job for both: a torchrun recipe on 2 nodes x 8 GPUs with a partition, account,
time limit, memory, three environment variables and two setup lines, whose command gets
two arguments. runspec's job is assembled once (recipe, env.toml profile, config); each
round then renders it N times, interleaved with N submitit renders of the same request.
Prints the median over rounds of time(submitit) / time(runspec) with its min-max, so
that above 1.0 runspec is the faster. Target: at least 1.0.

submitit is needed for this benchmark only (it is no dependency of runspec):

    pip install submitit
    python benchmarks/render.py [--renders 2000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 1.0

RECIPE = """\
# /// script
# [tool.runspec]
# name = "bench/pretrain"
# [tool.runspec.run]
# launch = "torchrun"
# [tool.runspec.config]
# format = "json"
# [tool.runspec.resources]
# nodes = 2
# gpus_per_node = 8
# [tool.runspec.env]
# NCCL_DEBUG = "WARN"
# ///
"""
ENV_TOML = """\
[cluster]
executor = "slurm"
partition = "batch"
account = "research"
time = "04:00:00"
mem = "0"
cpus_per_task = 10
setup = ["module load cuda/12.4", "source /opt/venv/bin/activate"]
[cluster.env_vars]
HF_HOME = "/lustre/cache/hf"
TOKENIZERS_PARALLELISM = "false"
"""


def runspec_render(folder: Path) -> Callable[[], object]:
    from runspec import job as jobs
    from runspec import spec
    from runspec.slurm.render import render_sbatch

    (folder / "config").mkdir()
    (folder / "config" / "default.json").write_text('{"lr": 0.001}\n', encoding="utf-8")
    (folder / "pretrain.py").write_text(RECIPE, encoding="utf-8")
    (folder / "env.toml").write_text(ENV_TOML, encoding="utf-8")
    recipe = spec.load(folder / "pretrain.py")
    envfile, profile = jobs.select_profile("cluster", str(folder / "env.toml"))
    job = jobs.assemble(
        recipe, config=None, envfile=envfile, profile=profile, overrides=[],
        job_dir=lambda env: folder / "jobs" / "pretrain",
    )  # fmt: skip
    args = ("--seed", "1")
    return lambda: render_sbatch(job, args=args, python="python")


def submitit_render(folder: Path) -> Callable[[], object]:
    from submitit.slurm.slurm import _make_sbatch_string

    def render() -> str:
        return _make_sbatch_string(
            command=f"python {folder}/pretrain.py --config {folder}/config.json --seed 1",
            folder=folder / "jobs" / "pretrain", job_name="bench-pretrain",
            partition="batch", time=240, nodes=2, ntasks_per_node=8, gpus_per_node=8,
            cpus_per_task=10, mem="0", account="research",
            setup=["module load cuda/12.4", "source /opt/venv/bin/activate",
                   "export NCCL_DEBUG=WARN", "export HF_HOME=/lustre/cache/hf",
                   "export TOKENIZERS_PARALLELISM=false"],
        )  # fmt: skip

    return render


def cpu_seconds(render: Callable[[], object], count: int) -> float:
    """CPU seconds for ``count`` renders (CPU time: other processes' load does not count)."""
    start = time.process_time()
    for _ in range(count):
        render()
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=2000, help="renders per round and side")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    try:
        import submitit
    except ImportError:
        raise SystemExit("this benchmark needs submitit: pip install submitit") from None
    with tempfile.TemporaryDirectory(prefix="runspec-render-") as tmp:
        ours, theirs = runspec_render(Path(tmp)), submitit_render(Path(tmp))
        ratios, times = [], {"runspec": [], "submitit": []}
        for round_ in range(args.rounds + 1):  # the first round warms up
            order = [("runspec", ours), ("submitit", theirs)]
            measured = {name: cpu_seconds(f, args.renders) for name, f in
                        (order if round_ % 2 else order[::-1])}  # fmt: skip
            if round_:
                ratios.append(measured["submitit"] / measured["runspec"])
                for name, seconds in measured.items():
                    times[name].append(seconds / args.renders * 1e6)
    median = statistics.median(ratios)
    print(f"{args.renders} renders a round, {args.rounds} rounds, submitit {submitit.__version__}")
    for name, micros in times.items():
        print(f"{name:9} median {statistics.median(micros):6.1f} us per script")
    verdict = "met" if median >= TARGET else "MISSED"
    print(f"submitit / runspec: {median:.2f} (min-max {min(ratios):.2f}-{max(ratios):.2f})"
          f" (target >= {TARGET}: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
