"""runspec: self-describing ML recipe scripts.

A recipe declares what it is and needs in a ``[tool.runspec]`` table inside its
PEP 723 ``# /// script`` block; runspec reads it, merges an ``env.toml``
execution profile and runs the script locally, on Slurm, or as a pipeline.

The model (:class:`Runspec` and its parts) and its readers are imported on first
use: commands that only read recipes never load ``dataclasses`` or ``pathlib``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    ConfigError,
    ExtraImportError,
    MissingExtraError,
    OverrideError,
    PipelineError,
    Problem,
    ProfileError,
    RunspecError,
    ScriptError,
    SlurmError,
    SpecError,
    TemplateError,
)

if TYPE_CHECKING:
    from .spec import Runspec, RunspecConfig, RunspecResources, RunspecRun, check, load, parse

_MODEL = ("Runspec", "RunspecConfig", "RunspecResources", "RunspecRun", "check", "load", "parse")

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ExtraImportError",
    "MissingExtraError",
    "OverrideError",
    "PipelineError",
    "Problem",
    "ProfileError",
    "Runspec",
    "RunspecConfig",
    "RunspecError",
    "RunspecResources",
    "RunspecRun",
    "ScriptError",
    "SlurmError",
    "SpecError",
    "TemplateError",
    "__version__",
    "check",
    "load",
    "parse",
]


def __getattr__(name: str) -> object:
    """Import the model's module on first use of one of its names."""
    if name in _MODEL:
        from . import spec

        return getattr(spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
