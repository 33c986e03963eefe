"""runspec: self-describing ML recipe scripts.

A recipe declares what it is and needs in a ``[tool.runspec]`` table inside its
PEP 723 ``# /// script`` block; runspec reads it, merges an ``env.toml``
execution profile and runs the script locally, on Slurm, or as a pipeline.

The model (:class:`Runspec` and its parts), its readers and the errors are imported
on first use: commands that only read recipes never load ``dataclasses`` or ``pathlib``.
"""

# Nothing is imported here, not even ``typing`` or ``__future__``: Ctrl-C while the
# command starts, and an interpreter too old for runspec, are answered by ._start.
TYPE_CHECKING = False
if TYPE_CHECKING:
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

_MODEL = ("Runspec", "RunspecConfig", "RunspecResources", "RunspecRun", "check", "load", "parse")
_ERRORS = (
    "ConfigError", "ExtraImportError", "MissingExtraError", "OverrideError", "PipelineError",
    "Problem", "ProfileError", "RunspecError", "ScriptError", "SlurmError", "SpecError",
    "TemplateError",
)  # fmt: skip

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
    """Import the module of a public name (the model, the errors) on its first use."""
    if name in _ERRORS:
        from . import errors

        return getattr(errors, name)
    if name in _MODEL:
        from . import spec

        return getattr(spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
