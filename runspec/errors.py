"""Errors and problems that know where they are.

Every error runspec raises derives from :class:`RunspecError` and formats itself
once, as ``path:line: key: message``. :class:`Problem` is one finding of a check
(an error or a warning) in the same format.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ConfigError",
    "ExtraImportError",
    "MissingExtraError",
    "OverrideError",
    "PipelineError",
    "Problem",
    "ProfileError",
    "RunspecError",
    "ScriptError",
    "SlurmError",
    "SpecError",
    "TemplateError",
    "location",
]


def location(path: object = None, line: int | None = None, key: str | None = None) -> str:
    """Return the ``path:line: key: `` prefix for a message (parts that are None are left out)."""
    prefix = ""
    if path is not None:
        prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    if key:
        prefix += f"{key}: "
    return prefix


class RunspecError(Exception):
    """Base of every error runspec reports; carries path, line and key."""

    def __init__(
        self,
        message: str,
        *,
        path: object = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.key = key

    def __str__(self) -> str:
        return location(self.path, self.line, self.key) + self.message


class ScriptError(RunspecError):
    """The PEP 723 metadata block of a script is missing, duplicated or malformed."""


class SpecError(RunspecError):
    """A ``[tool.runspec]`` value is invalid."""


class ProfileError(RunspecError):
    """An env.toml file or one of its profiles is invalid."""


class TemplateError(RunspecError):
    """A ``${run.*}`` reference cannot be resolved."""


class OverrideError(RunspecError):
    """A command-line override is malformed or does not apply."""


class ConfigError(RunspecError):
    """A job config cannot be found, loaded or assembled."""


class SlurmError(RunspecError):
    """A batch script cannot be rendered, or Slurm refused or failed a request."""


class PipelineError(RunspecError):
    """A pipeline or local run could not be started."""


class MissingExtraError(RunspecError):
    """An optional integration is needed but its package is not installed."""


class ExtraImportError(RunspecError):
    """An installed optional integration fails to import (a bug or a broken dependency)."""


class Problem(NamedTuple):
    """One finding of a check: an error or a warning at a place in a file.

    A named tuple rather than a dataclass, for the cost of starting the CLI (see
    :class:`runspec.script.Block`).
    """

    severity: str
    message: str
    path: object = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = location(self.path, self.line)
        key = f"{self.key}: " if self.key else ""
        return f"{where}{self.severity}: {key}{self.message}"

    @classmethod
    def from_error(cls, error: RunspecError, severity: str = "error") -> Problem:
        """Turn a raised error into a finding of the given severity."""
        return cls(severity, error.message, error.path, error.line, error.key)
