# /// script
# dependencies = ["ray[default]"]
#
# [tool.runspec]
# name = "slurm-tests/ray"
#
# [tool.runspec.run]
# launch = "ray"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# nodes = 3
# gpus_per_node = 8
# ///
"""Runs one Ray task on every node of the cluster runspec started; records what each saw."""

from __future__ import annotations

import json
import os
import sys

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=1)
def where(number: int) -> dict[str, object]:
    """Where this task ran: the Slurm node of the raylet that started its worker."""
    return {
        "slurm_node": os.environ.get("SLURMD_NODENAME"),
        "ray_node": ray.get_runtime_context().get_node_id(),
        "python": sys.executable,
        "square": number * number,
    }


ray.init()  # the address comes from RAY_ADDRESS, which runspec exports
alive = [node for node in ray.nodes() if node["Alive"]]
tasks = [
    where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
    .remote(number)
    for number, node in enumerate(alive)
]
record = {
    "job_nodes": int(os.environ["SLURM_JOB_NUM_NODES"]),
    "alive_nodes": len(alive),
    "gpus": {node["NodeID"]: node["Resources"].get("GPU", 0) for node in alive},
    "tasks": ray.get(tasks),
}
ray.shutdown()
with open(os.path.join(os.environ["RUNSPEC_JOB_DIR"], "ray.json"), "w", encoding="utf-8") as out:
    json.dump(record, out, indent=1, sort_keys=True)
if record["alive_nodes"] != record["job_nodes"]:
    sys.exit(f"{record['alive_nodes']} Ray nodes alive, but the job has {record['job_nodes']}")
print(len(alive), "Ray nodes ran tasks", flush=True)
