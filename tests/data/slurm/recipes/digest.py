# /// script
# [tool.runspec]
# name = "slurm-tests/digest"
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
"""Pipeline step 3: prints the byte count and SHA-256 of its stdin (or of its first N bytes)."""

from __future__ import annotations

import hashlib
import sys

limit = int(sys.argv[-1]) if sys.argv[-1].isdigit() else None
digest, count = hashlib.sha256(), 0
while (limit is None or count < limit) and (chunk := sys.stdin.buffer.read1(65536)):
    chunk = chunk if limit is None else chunk[: limit - count]
    digest.update(chunk)
    count += len(chunk)
print(count, digest.hexdigest(), flush=True)
