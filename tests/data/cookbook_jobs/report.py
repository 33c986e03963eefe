# /// script
# [tool.runspec]
# name = "cookbook-tests/report"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "omegaconf"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""Reports the job config it was called with: its path, its format and two of its values."""

import json
import os
import sys

import yaml

path = sys.argv[sys.argv.index("--config") + 1]
with open(path, encoding="utf-8") as stream:
    config = yaml.safe_load(stream)
print(json.dumps({
    "path": path,
    "same_as_env": path == os.environ.get("RUNSPEC_CONFIG"),
    "greeting": config["greeting"],
    "data": config["run"]["data"],
    "startup": os.environ.get("STARTED_BY", ""),
}))
