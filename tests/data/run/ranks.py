# /// script
# [tool.runspec]
# name = "tests/ranks"
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.config]
# format = "json"
# default = "ranks"
#
# [tool.runspec.resources]
# gpus_per_node = 2
# ///
"""Test recipe for torchrun: every rank joins a gloo group and records RANK/WORLD_SIZE."""

import argparse
import json
import os

import torch
import torch.distributed as dist

parser = argparse.ArgumentParser()
parser.add_argument("--config", required=True)
args = parser.parse_args()
with open(args.config, encoding="utf-8") as handle:
    config = json.load(handle)
dist.init_process_group("gloo")
total = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(total)
rank, world = os.environ["RANK"], os.environ["WORLD_SIZE"]
out = os.path.join(config["out"], f"rank-{rank}.json")
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"rank": int(rank), "world_size": int(world), "sum": total.item()}, handle)
dist.destroy_process_group()
