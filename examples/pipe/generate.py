# /// script
# [tool.runspec]
# schema = "1"
# name = "examples/pipe/generate"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# default = "generate"
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""First step of the example pipeline: writes numbered text records to stdout."""

from __future__ import annotations

import argparse
import json
import signal
import sys


def main() -> None:
    # Die of SIGPIPE like a shell tool when the next step stops reading, rather than
    # raising BrokenPipeError: runspec then knows this step is not the cause.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    out = sys.stdout
    for number in range(config["records"]):
        out.write(f"record {number:08d} {config['text']}\n")
    out.flush()
    print(f"generated {config['records']} records", file=sys.stderr)


if __name__ == "__main__":
    main()
