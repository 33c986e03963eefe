# /// script
# [tool.runspec]
# name = "slurm-tests/gen"
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
"""Pipeline step 1: writes SIZE bytes (argument 1) of a SHA-256 chain seeded by argument 2."""

from __future__ import annotations

import hashlib
import signal
import sys


def chain(size: int, seed: bytes) -> bytes:
    """The deterministic bytes this step writes (the tests compute them too)."""
    block, out = seed, bytearray()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # die quietly when the reader is gone
    size, seed = int(sys.argv[-2]), sys.argv[-1].encode()
    sys.stdout.buffer.write(chain(size, seed))
