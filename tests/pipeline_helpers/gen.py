"""Write SIZE deterministic bytes to stdout, or with --digest print their SHA-256 instead.

Usage: gen.py SIZE [--digest]. Every 1 MiB block is one fixed random block stamped
with its index, so reordered, lost or repeated blocks change the digest.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys

BLOCK = 1 << 20


def blocks(size: int):
    base = random.Random(20240601).randbytes(BLOCK)
    for index in range(0, size, BLOCK):
        block = index.to_bytes(8, "big") + base[8:]
        yield block[: min(BLOCK, size - index)]


def main() -> None:
    size = int(sys.argv[1])
    if sys.argv[2:] == ["--digest"]:
        digest = hashlib.sha256()
        for block in blocks(size):
            digest.update(block)
        print(digest.hexdigest())
        return
    for block in blocks(size):
        view = memoryview(block)
        while view:
            view = view[os.write(1, view) :]


main()
