"""Starting the ``runspec`` command: the Python version check, and Ctrl-C while importing.

Both ``python -m runspec`` and the installed ``runspec`` script start here. This module
and the package's ``__init__`` import nothing and use no syntax newer than Python 3.7,
so an older interpreter gets a one-line answer instead of a traceback, and Ctrl-C while
the command line's modules load exits 130 like Ctrl-C at any later moment.
"""

import sys

_OLDEST = (3, 10)


def main() -> int:
    """Check the interpreter, import the command line and run it; return the exit code."""
    if sys.version_info < _OLDEST:
        found = sys.version.split()[0]
        print(f"runspec: error: runspec needs Python 3.10 or newer (this is Python {found})",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        return 130
    code: int = run()
    return code
