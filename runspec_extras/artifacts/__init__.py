"""Versioned artifacts on any fsspec store, with lineage: ``Registry``, ``${art:...}``, ``art://``.

Importing this package loads no third-party module; fsspec is imported when a
registry is first opened.
"""

from __future__ import annotations

from .errors import ArtifactError
from .reference import Reference
from .registry import Registry
from .version import Input, Version

__all__ = ["ArtifactError", "Input", "Reference", "Registry", "Version"]
