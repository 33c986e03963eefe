# /// script
# [tool.runspec]
# schema = "1"
# name = "examples/pipe/upper"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# default = "upper"
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""Middle step of the example pipeline: upper-cases stdin to stdout, line by line."""

from __future__ import annotations

import argparse
import signal
import sys


def main() -> None:
    # Die of SIGPIPE like a shell tool when the next step stops reading, rather than
    # raising BrokenPipeError: runspec then knows this step is not the cause.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.parse_args()
    for line in sys.stdin.buffer:
        sys.stdout.buffer.write(line.upper())


if __name__ == "__main__":
    main()
