"""Smoke tests of the local test Slurm cluster through plain sbatch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

JOB_TIMEOUT_SECONDS = 120

# (sbatch options, job command, expected output lines in sorted order)
CASES = (
    (("--nodelist=node1",), "echo hello from $SLURMD_NODENAME", ("hello from node1",)),
    (
        ("--nodes=2", "--ntasks-per-node=1", "--nodelist=node[1-2]"),
        "srun bash -c 'echo task $SLURM_PROCID on $SLURMD_NODENAME'",
        ("task 0 on node1", "task 1 on node2"),
    ),
    (
        ("--nodelist=node3", "--gpus-per-node=2"),
        "echo $SLURMD_NODENAME CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES",
        ("node3 CUDA_VISIBLE_DEVICES=0,1",),
    ),
)


def run_batch(
    tmp_path: Path, options: tuple[str, ...], command: str
) -> tuple[str, ...]:
    """Submit ``command`` with ``sbatch --wait``; return its output lines, sorted."""
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--wait",
            f"--chdir={tmp_path}",
            "--output=%j.out",
            *options,
            f"--wrap={command}",
        ],
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_SECONDS,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    return tuple(sorted((tmp_path / f"{job_id}.out").read_text().splitlines()))


@pytest.mark.parametrize(
    ("options", "command", "expected"), CASES, ids=("one-node", "two-nodes", "gpu-gres")
)
@pytest.mark.usefixtures("slurm_cluster")
def test_batch_job_output(
    tmp_path: Path, options: tuple[str, ...], command: str, expected: tuple[str, ...]
) -> None:
    """A batch job runs where it was asked to and sees the resources it was given."""
    assert run_batch(tmp_path, options, command) == expected
