# /// script
# requires-python = ">=3.10"
# dependencies = ["runspec[omegaconf,artifacts]", "torch"]
#
# [tool.runspec]
# schema = "1"
# name = "examples/artifacts-train"
# setup = "Needs runspec[omegaconf,artifacts] and torch (CPU is enough)."
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.config]
# dir = "./config/train"
# default = "default"
# format = "omegaconf"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""Training: reads the data set its config names (``${art:data,path}``) on every rank,
fits y = a*x + b with gradients averaged across ranks, and publishes the model.

Rank 0 resolves ``run.data`` once for the whole job; the other ranks wait for it.
"""

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

from runspec_extras.artifacts import publish
from runspec_extras.omegaconf_config import load_job_config

config = load_job_config()
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
blend = json.loads(Path(config.data.blend).read_text())
lines = (Path(config.data.path) / blend["train"][0]).read_text().splitlines()
rows = [json.loads(line) for line in lines][rank::world]
x = torch.tensor([float(row["x"]) for row in rows])
y = torch.tensor([float(row["y"]) for row in rows])
weights = torch.zeros(2, requires_grad=True)
for _ in range(config.train.steps):
    loss = ((weights[0] * x + weights[1] - y) ** 2).mean()
    loss.backward()
    assert weights.grad is not None
    dist.all_reduce(weights.grad)
    with torch.no_grad():
        weights -= config.train.lr * weights.grad / world
    weights.grad.zero_()
dist.barrier()
if rank == 0:
    out = Path(os.environ.get("RUNSPEC_JOB_DIR", ".")) / "model"
    out.mkdir(parents=True, exist_ok=True)
    torch.save(weights.detach(), out / "weights.pt")
    meta = {"a": float(weights[0]), "b": float(weights[1]), "data": config.data.version}
    print(f"published {publish(config.artifact, out, metadata=meta).ref}")
dist.destroy_process_group()
