"""Write LINES lines of LENGTH copies of CHAR to stderr, each in small unbuffered pieces.

Usage: chatty.py CHAR LINES LENGTH. Writing every line in many pieces gives a second
chatty step the most chances to land in the middle of a line.
"""

from __future__ import annotations

import os
import sys

char, lines, length = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])
line = char * length + b"\n"
for _ in range(lines):
    for start in range(0, len(line), 997):
        os.write(2, line[start : start + 997])
        os.sched_yield()
