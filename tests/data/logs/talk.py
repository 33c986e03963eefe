# /// script
# [tool.runspec]
# name = "tests/talk"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""Test recipe: writes its config's ``out`` lines to stdout and ``err`` lines to stderr,
waits for the file ``gate`` (if set) after the first lines, then exits with ``exit``."""

import json
import os
import sys
import time

config_path = sys.argv[sys.argv.index("--config") + 1]
with open(config_path, encoding="utf-8") as handle:
    config = json.load(handle)
out, err = config["out"], config["err"]
for index, line in enumerate(out):
    print(line, flush=True)
    if index < len(err):
        print(err[index], file=sys.stderr, flush=True)
    if index == 0 and config["gate"]:
        deadline = time.monotonic() + 120
        while not os.path.exists(config["gate"]) and time.monotonic() < deadline:
            time.sleep(0.05)
print(f"tty={sys.stdout.isatty()} unbuffered={os.environ.get('PYTHONUNBUFFERED')}", file=sys.stderr)
sys.exit(config["exit"])
