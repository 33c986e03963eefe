"""Pass COUNT bytes from stdin to stdout, start a grandchild `sleep 1000`, then SIGKILL itself.

Usage: selfkill.py COUNT PIDFILE. The grandchild's pid is written to PIDFILE
(atomically) before the step kills itself, so a test can check it was stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

count, pidfile = int(sys.argv[1]), sys.argv[2]
while count > 0:
    data = os.read(0, min(count, 65536))
    if not data:
        break
    os.write(1, data)
    count -= len(data)
sleeper = subprocess.Popen(["sleep", "1000"])
with open(pidfile + ".tmp", "w") as out:
    out.write(f"{sleeper.pid}\n")
os.replace(pidfile + ".tmp", pidfile)
os.kill(os.getpid(), signal.SIGKILL)
