# /// script
# [tool.runspec]
# name = "tests/probe"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 0
#
# [tool.runspec.env]
# PROBE_FROM_RECIPE = "recipe value"
# PROBE_TEMPLATED = "nodes=${run.env.nodes}"
# ///
"""Test recipe: reports what it received (argv, selected env, config) as JSON, then exits."""

import argparse
import json
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--config", required=True)
known, rest = parser.parse_known_args()
with open(known.config, encoding="utf-8") as handle:
    config = json.load(handle)
env = {k: v for k, v in os.environ.items() if k.startswith(("PROBE_", "RUNSPEC_"))}
print(json.dumps({"args": rest, "env": env, "config": config, "cwd": os.getcwd()}))
sys.stdout.flush()
if config.get("sleep"):
    time.sleep(config["sleep"])
sys.exit(config["exit_code"])
