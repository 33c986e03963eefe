"""The seam to ``runspec_extras``: import an integration, and say exactly why it cannot be.

The extras are a separate package, imported by their top-level name and never
vendored. Importing one can fail three ways, each reported in one line:
``runspec_extras`` is not installed at all (a vendored core), the installed copy is
older and lacks the module, or the module is there but fails to import (a bug, a
broken dependency: the real import error is shown, never install advice).

A vendored core (``tools._vendor.runspec``) meets extras that raise the errors of the
installed top-level ``runspec``; :func:`calling_extra` turns those into this copy's.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from . import errors
from .errors import ExtraImportError, MissingExtraError, RunspecError

__all__ = ["calling_extra", "describe_import_error", "executor_keys", "import_extra"]


def import_extra(module: str, extra: str, purpose: str, path: object = None) -> ModuleType:
    """Import ``runspec_extras.<...>`` for ``purpose`` ("reading yaml configs").

    Raises :class:`MissingExtraError` when ``runspec_extras`` or this module of it is
    not installed (naming ``pip install 'runspec[EXTRA]'``), and
    :class:`ExtraImportError` when it is installed but fails to import.
    """
    with calling_extra(path):
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise _not_found(exc, module, extra, purpose) from None
        except ImportError as exc:
            raise ExtraImportError(
                f"cannot import {module}: {describe_import_error(exc)}"
            ) from None


def _not_found(exc: ModuleNotFoundError, module: str, extra: str, purpose: str) -> RunspecError:
    install = f"pip install 'runspec[{extra}]'"
    if exc.name == "runspec_extras":
        return MissingExtraError(
            f"{purpose} needs runspec_extras, which is not installed: {install}"
        )
    missing = exc.name or ""
    if missing.startswith("runspec_extras.") and f"{module}.".startswith(f"{missing}."):
        folder = _installed_extras()
        return MissingExtraError(
            f"{purpose} needs {module}, which the installed runspec_extras ({folder}) does not "
            f"have: pip install --upgrade 'runspec[{extra}]'"
        )
    return ExtraImportError(f"cannot import {module}: {describe_import_error(exc)}")


def _installed_extras() -> str:
    package = importlib.import_module("runspec_extras")
    where = getattr(package, "__file__", None)
    return str(Path(where).parent) if where else "a namespace package"


def describe_import_error(exc: ImportError) -> str:
    """One line for an import that failed: the message, its type, where it was raised."""
    frame = None
    tb = exc.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith("<"):
            frame = tb
        tb = tb.tb_next
    where = f" at {frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else ""
    message = " ".join(str(exc).split()) or "(no message)"
    return f"{message} ({type(exc).__name__}{where})"


@contextlib.contextmanager
def calling_extra(path: object = None) -> Iterator[None]:
    """Run code of an extra: its runspec errors come out as this copy's, with ``path`` set.

    Errors that already name a file keep it. An error of another copy of runspec (the
    installed one, seen by a vendored core) becomes the class of the same name here.
    """
    try:
        yield
    except RunspecError as error:
        if error.path is None:
            error.path = path
        raise
    except Exception as exc:
        adopted = _adopt(exc, path)
        if adopted is None:
            raise
        raise adopted from exc


def _adopt(exc: Exception, path: object) -> RunspecError | None:
    names = [cls.__name__ for cls in type(exc).__mro__]
    if "RunspecError" not in names or not hasattr(exc, "message"):
        return None
    own: type[RunspecError] = next(
        (getattr(errors, name) for name in names if name in errors.__all__), RunspecError
    )
    return own(
        exc.message,
        path=getattr(exc, "path", None) or path,
        line=getattr(exc, "line", None),
        key=getattr(exc, "key", None),
    )


def executor_keys(executor: str) -> frozenset[str] | None:
    """The profile keys nemo-run's ``executor`` reads, from the installed nemo-run extra
    (its key table is plain data: nemo-run itself is not imported); None without it."""
    try:
        module = importlib.import_module("runspec_extras.nemo_run_executors")
    except ImportError:
        return None
    table = getattr(module, "EXECUTORS", {})
    entry = table.get(executor)
    return frozenset(entry.reads) if entry is not None else None
