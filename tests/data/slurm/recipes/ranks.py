# /// script
# requires-python = ">=3.10"
# dependencies = ["torch"]
#
# [tool.runspec]
# name = "slurm-tests/ranks"
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# nodes = 2
# gpus_per_node = 2
# ///
"""Every rank joins a gloo process group, sums its rank with the others, and records itself."""

from __future__ import annotations

import json
import os
import socket

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
total = torch.tensor([dist.get_rank()])
dist.all_reduce(total)
record = {
    name: os.environ.get(name)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURMD_NODENAME", "SLURM_NODEID")
}
record.update(rank_sum=int(total.item()), host=socket.gethostname())
path = os.path.join(os.environ["RUNSPEC_JOB_DIR"], f"rank-{os.environ['RANK']}.json")
with open(path, "w", encoding="utf-8") as stream:
    json.dump(record, stream)
dist.destroy_process_group()
