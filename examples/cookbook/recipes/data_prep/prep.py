# /// script
# requires-python = ">=3.10"
# dependencies = []
#
# [tool.runspec]
# name = "data/prep"
# setup = "Plain Python: runs anywhere."
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# nodes = 1
# gpus_per_node = 0
# ///
"""Writes noisy samples of a line, y = slope * x + intercept, as CSV rows "x,y"."""

import argparse
import json
import random

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", required=True)
args = parser.parse_args()
with open(args.config, encoding="utf-8") as handle:
    config = json.load(handle)
data = config["data"]
rng = random.Random(data["seed"])
rows = []
for _ in range(data["rows"]):
    x = rng.uniform(-1.0, 1.0)
    y = data["slope"] * x + data["intercept"] + rng.gauss(0, data["noise"])
    rows.append(f"{x:.6f},{y:.6f}")
with open(config["output"], "w", encoding="utf-8") as handle:
    handle.write("\n".join(rows) + "\n")
print(f"wrote {len(rows)} rows of y = {data['slope']} * x + {data['intercept']}")
