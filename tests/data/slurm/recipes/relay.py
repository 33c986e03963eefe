# /// script
# [tool.runspec]
# name = "slurm-tests/relay"
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
"""Pipeline step 2: copies stdin to stdout in 64 KiB reads; exits with argument 1 if given."""

from __future__ import annotations

import signal
import sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # die quietly when the reader is gone

code = int(sys.argv[-1]) if sys.argv[-1].isdigit() else 0
while chunk := sys.stdin.buffer.read1(65536):
    sys.stdout.buffer.write(chunk)
    if code:
        sys.exit(code)
sys.stdout.buffer.flush()
