"""The error the artifact registry raises: one line that says what exists instead."""

from __future__ import annotations

from runspec.errors import RunspecError

__all__ = ["ArtifactError"]


class ArtifactError(RunspecError):
    """An artifact reference, version, alias or registry cannot be used as asked."""
