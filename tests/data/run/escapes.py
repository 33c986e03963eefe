# /// script
# [tool.runspec]
# name = "tests/escapes"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "json"
# default = "family"
# ///
"""Test recipe: starts processes that leave its process group, records their pids.

One child in a new session (``start_new_session=True``), and a daemon made the classic
way (fork, ``setsid``, fork again, the middle process exits): the daemon's parent is
gone, so the kernel gives it a new one. Then the recipe sleeps, or exits when the config
says ``then = "exit"``.
"""

import argparse
import json
import os
import subprocess
import time

parser = argparse.ArgumentParser()
parser.add_argument("--config", required=True)
args = parser.parse_args()
with open(args.config, encoding="utf-8") as handle:
    config = json.load(handle)
session = subprocess.Popen(["sleep", "1000"], start_new_session=True)
read_end, write_end = os.pipe()
if os.fork() == 0:
    os.setsid()
    daemon = os.fork()
    if daemon == 0:
        os.execvp("sleep", ["sleep", "1000"])
    os.write(write_end, str(daemon).encode())
    os._exit(0)
os.close(write_end)
daemon_pid = int(os.read(read_end, 64))
os.wait()
pids = {"recipe": os.getpid(), "session": session.pid, "daemon": daemon_pid}
with open(config["pidfile"] + ".tmp", "w", encoding="utf-8") as handle:
    json.dump(pids, handle)
os.replace(config["pidfile"] + ".tmp", config["pidfile"])
if config.get("then") != "exit":
    time.sleep(1000)
