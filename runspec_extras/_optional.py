"""Import an optional package on first use, naming the pip extra only when it is missing.

``with importing("reading YAML"): import yaml`` keeps the import typed for mypy; a
package that is really missing (the import system cannot find it) becomes a
:class:`~runspec.errors.MissingExtraError` naming ``pip install 'runspec[EXTRA]'``.
Any other import failure (a dependency of the package missing, a bug in it) is an
:class:`~runspec.errors.ExtraImportError` that shows the real error in one line:
installing the extra again would not help.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

from runspec._extras import describe_import_error
from runspec.errors import ExtraImportError, MissingExtraError, RunspecError

__all__ = ["EXTRAS", "import_problem", "importing", "require"]

#: top-level module -> (pip package, runspec extra that installs it)
EXTRAS = {
    "omegaconf": ("omegaconf", "omegaconf"),
    "yaml": ("PyYAML", "omegaconf"),
    "fsspec": ("fsspec", "artifacts"),
    "s3fs": ("s3fs", "artifacts"),
    "wandb": ("wandb", "wandb"),
    "nemo_run": ("nemo-run", "nemo-run"),
}


@contextlib.contextmanager
def importing(purpose: str) -> Iterator[None]:
    """Imports in this block that fail raise :func:`import_problem` for ``purpose``."""
    try:
        yield
    except ImportError as exc:
        raise import_problem(exc, purpose) from exc


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` for ``purpose`` ("merging defaults"), or say why it cannot be."""
    with importing(purpose):
        return importlib.import_module(module)


def import_problem(exc: ImportError, purpose: str) -> RunspecError:
    """The error to report for an import that failed while doing ``purpose``.

    Missing means the import system found no module of that exact top-level name:
    ``No module named 'yaml'``. ``No module named 'yaml._yaml'`` (or an ImportError
    raised while the package ran its own imports) means it is installed but broken.
    """
    name = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if name in EXTRAS:
        package, extra = EXTRAS[name]
        return MissingExtraError(
            f"{purpose} needs {package}, which is not installed: pip install 'runspec[{extra}]'"
        )
    return ExtraImportError(f"{purpose}: {describe_import_error(exc)}")
