"""runspec: self-describing ML recipe scripts.

A recipe declares what it is and needs in a ``[tool.runspec]`` table inside its
PEP 723 ``# /// script`` block; runspec reads it, merges an ``env.toml``
execution profile and runs the script locally, on Slurm, or as a pipeline.
"""

from __future__ import annotations

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
from .spec import Runspec, RunspecConfig, RunspecResources, RunspecRun, check, load, parse

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
