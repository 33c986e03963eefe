"""Versioned artifacts on any fsspec store, with lineage: ``Registry``, ``${art:...}``, ``art://``.

Recipes call :func:`publish` and :func:`use` (the registry of env.toml, this job's
lineage); :class:`Registry` is the registry itself. Importing this package loads no
third-party module; fsspec is imported when a registry is first opened.
"""

from __future__ import annotations

from .context import publish, use
from .errors import ArtifactError
from .reference import Reference
from .registry import Registry
from .version import Input, Version

__all__ = ["ArtifactError", "Input", "Reference", "Registry", "Version", "publish", "use"]
