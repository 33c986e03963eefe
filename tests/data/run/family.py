# /// script
# [tool.runspec]
# name = "tests/family"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "json"
# default = "family"
# ///
"""Test recipe: starts a grandchild, records both pids, then waits to be stopped."""

import argparse
import json
import subprocess
import time

parser = argparse.ArgumentParser()
parser.add_argument("--config", required=True)
args = parser.parse_args()
with open(args.config, encoding="utf-8") as handle:
    config = json.load(handle)
child = subprocess.Popen(["sleep", "1000"])
with open(config["pidfile"] + ".tmp", "w", encoding="utf-8") as handle:
    json.dump({"recipe": __import__("os").getpid(), "grandchild": child.pid}, handle)
__import__("os").replace(config["pidfile"] + ".tmp", config["pidfile"])
time.sleep(1000)
