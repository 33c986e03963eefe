# /// script
# requires-python = ">=3.10"
# dependencies = []
#
# [tool.runspec]
# name = "tiny/finetune"
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
#
# [tool.runspec.env]
# FINETUNE_TAG = "from the recipe"
# ///
"""Moves a fitted line (model.init) towards a new one with a few small steps; JSON config."""

import argparse
import json
import os

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", required=True)
args, extra = parser.parse_known_args()
with open(args.config, encoding="utf-8") as handle:
    config = json.load(handle)
(a, b), (slope, intercept) = config["model"]["init"], config["data"]["target"]
for _ in range(config["train"]["steps"]):
    a += config["train"]["lr"] * (slope - a)
    b += config["train"]["lr"] * (intercept - b)
print(f"tiny/finetune ({os.environ['FINETUNE_TAG']}): a={a:.3f} b={b:.3f}")
if extra:
    print("passed through:", " ".join(extra))
