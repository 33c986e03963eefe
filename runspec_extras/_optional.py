"""Import an optional package on first use, naming the pip extra when it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from runspec.errors import MissingExtraError

__all__ = ["EXTRAS", "require"]

#: module -> (pip package, runspec extra that installs it)
EXTRAS = {
    "omegaconf": ("omegaconf", "omegaconf"),
    "yaml": ("PyYAML", "omegaconf"),
    "fsspec": ("fsspec", "artifacts"),
    "wandb": ("wandb", "wandb"),
    "nemo_run": ("nemo-run", "nemo-run"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package, extra = EXTRAS.get(module, (module, "full"))
        message = (
            f"this needs the {package!r} package: pip install 'runspec[{extra}]' "
            f"(or 'runspec[full]' for every integration)"
        )
        raise MissingExtraError(message) from exc
