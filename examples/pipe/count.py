# /// script
# [tool.runspec]
# schema = "1"
# name = "examples/pipe/count"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# default = "count"
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""Last step of the example pipeline: counts lines and bytes of stdin and prints a digest."""

from __future__ import annotations

import argparse
import hashlib
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.parse_args()
    digest, lines, size = hashlib.sha256(), 0, 0
    for line in sys.stdin.buffer:
        digest.update(line)
        lines, size = lines + 1, size + len(line)
    print(f"{lines} lines, {size} bytes, sha256 {digest.hexdigest()}")


if __name__ == "__main__":
    main()
