"""Three tiny pipeline recipes for the pipe benchmarks: generate | copy | count.

Each is a plain Python script (launch ``direct``) that ignores the ``--config``
runspec adds, so that ``runspec pipe`` and ``sh -c 'a | b | c'`` run exactly the
same three commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["pipe_command", "shell_command", "write_recipes"]

HEADER = """\
# /// script
# [tool.runspec]
# name = "bench/{name}"
# [tool.runspec.run]
# launch = "direct"
# [tool.runspec.config]
# format = "json"
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
import os
import sys

"""

BODIES = {
    "generate": """\
size = int(sys.argv[sys.argv.index("--bytes") + 1])
block = b"x" * (1 << 16)
while size > 0:
    size -= os.write(1, block[: min(size, len(block))])
""",
    "copy": """\
while data := os.read(0, 1 << 16):
    while data:
        data = data[os.write(1, data) :]
""",
    "count": """\
total = 0
while data := os.read(0, 1 << 16):
    total += len(data)
print(total)
""",
}


def write_recipes(folder: Path) -> dict[str, Path]:
    """Write the three recipes (and their empty default configs) into ``folder``."""
    (folder / "config").mkdir(parents=True, exist_ok=True)
    (folder / "config" / "default.json").write_text("{}\n", encoding="utf-8")
    paths = {}
    for name, body in BODIES.items():
        paths[name] = folder / f"{name}.py"
        paths[name].write_text(HEADER.format(name=name) + body, encoding="utf-8")
    return paths


def pipe_command(paths: dict[str, Path], size: int) -> list[str]:
    """``runspec pipe generate -- --bytes SIZE + copy + count``."""
    return [
        sys.executable, "-m", "runspec", "pipe",
        str(paths["generate"]), "--", "--bytes", str(size), "+",
        str(paths["copy"]), "+", str(paths["count"]),
    ]  # fmt: skip


def shell_command(paths: dict[str, Path], size: int) -> list[str]:
    """The same three commands joined by the shell."""
    python = sys.executable
    script = (
        f"{python} {paths['generate']} --bytes {size} | {python} {paths['copy']}"
        f" | {python} {paths['count']}"
    )
    return ["sh", "-c", script]
