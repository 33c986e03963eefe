"""The output of local runs: printing a job's logs, or following them until it ends.

A local run copies its stdout and stderr into ``stdout.log`` and ``stderr.log`` in its
job folder as they stream (see :mod:`runspec.run.pipeline.taps`); the job's record
names them. Following polls both files and the record: it ends when the record says
how the job ended, or when the runspec process that ran it is gone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, TextIO

from ..errors import RunspecError

__all__ = ["follow", "log_files", "print_logs"]

_POLL_SECONDS = 0.2
_CHUNK = 1 << 20


def log_files(record: Path, data: Mapping[str, Any]) -> tuple[Path, Path]:
    """A local job's stdout and stderr logs: from its record, else the usual names."""
    output = data.get("output")
    if isinstance(output, Mapping) and output.get("stdout") and output.get("stderr"):
        return Path(str(output["stdout"])), Path(str(output["stderr"]))
    return record.parent / "stdout.log", record.parent / "stderr.log"


def print_logs(files: tuple[Path, Path]) -> bool:
    """Print the logs as they are: stdout's to stdout, stderr's to stderr; False when the
    job has none (a run from before runspec kept logs, or one that never started)."""
    found = False
    for path, stream in zip(files, (sys.stdout, sys.stderr), strict=True):
        try:
            with open(path, "rb") as source:
                found = True
                _copy(source, stream)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RunspecError(f"cannot read the log: {exc.strerror}", path=path) from None
    return found


def follow(
    files: tuple[Path, Path],
    ended: Callable[[], bool],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Copy what the logs gain until ``ended()`` says the job is over, then the rest."""
    offsets = [0, 0]
    while True:
        over = ended()  # asked before the last copy, so nothing written before it is missed
        for index, (path, stream) in enumerate(zip(files, (sys.stdout, sys.stderr), strict=True)):
            offsets[index] = _copy_from(path, offsets[index], stream)
        if over:
            return
        sleep(_POLL_SECONDS)


def _copy_from(path: Path, offset: int, stream: TextIO) -> int:
    try:
        with open(path, "rb") as source:
            source.seek(offset)
            return offset + _copy(source, stream)
    except OSError:
        return offset  # not created yet


def _copy(source: IO[bytes], stream: TextIO) -> int:
    stream.flush()
    total = 0
    while chunk := source.read(_CHUNK):
        stream.buffer.write(chunk)
        total += len(chunk)
    stream.buffer.flush()
    return total
