# /// script
# requires-python = ">=3.10"
#
# [tool.runspec]
# name = "slurm-tests/echo"
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
# RECIPE_VALUE = "from the recipe"
# ///
"""Records what reached it (argv, selected env vars, its config) as JSON in the job folder."""

from __future__ import annotations

import json
import os
import sys
import time

config_path = sys.argv[sys.argv.index("--config") + 1]
with open(config_path, encoding="utf-8") as stream:
    config = json.load(stream)
record = {
    "argv": sys.argv[1:],
    "env": {k: v for k, v in os.environ.items() if k.startswith(("RECIPE_", "HOSTILE", "RUNSPEC_", "MASTER_"))},
    "cwd": os.getcwd(),
    "recipe_name": config["run"]["recipe"]["name"],
}
folder = os.environ["RUNSPEC_JOB_DIR"]
name = f"record-{os.environ.get('SLURM_PROCID', '0')}.json"
with open(os.path.join(folder, name), "w", encoding="utf-8") as stream:
    json.dump(record, stream, ensure_ascii=False)
print("echo ran on", os.environ.get("SLURMD_NODENAME"), flush=True)
time.sleep(config["sleep"])
sys.exit(config["exit_code"])
