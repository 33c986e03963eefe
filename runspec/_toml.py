"""TOML reading: ``tomllib`` on Python 3.11+, the ``tomli`` backport on 3.10."""

from __future__ import annotations

try:
    import tomllib as _toml
except ModuleNotFoundError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as _toml  # type: ignore[no-redef]

__all__ = ["TOMLDecodeError", "loads"]

TOMLDecodeError = _toml.TOMLDecodeError
loads = _toml.loads
