"""Artifact references: ``name``, ``name:v3``, ``name:latest``, ``name:best``.

A reference names an artifact and, after a colon, a version (``v3``; ``3`` is read as
``v3``) or an alias. Without one it means ``latest``, the newest version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ArtifactError

__all__ = ["LATEST", "Reference", "check_alias", "check_name", "version_label"]

LATEST = "latest"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
_VERSION = re.compile(r"v?([0-9]{1,9})")


def check_name(name: str) -> str:
    """Return ``name`` when it can name an artifact, else raise :class:`ArtifactError`."""
    if not _NAME.fullmatch(name):
        raise ArtifactError(
            f"invalid artifact name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` when it can name an alias (``best``, not ``v3``), else raise."""
    if _VERSION.fullmatch(alias) or not _ALIAS.fullmatch(alias):
        raise ArtifactError(
            f"invalid alias {alias!r}: use letters, digits, '.', '_' and '-', starting "
            "with a letter, and not of the form v<N>"
        )
    return alias


def version_label(number: int) -> str:
    """How a version number is written: ``v3``."""
    return f"v{number}"


@dataclass(frozen=True)
class Reference:
    """A parsed ``name[:version|alias]``: exactly one of ``version`` and ``alias`` is set."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``text``; a missing selector means ``latest``."""
        name, colon, selector = text.strip().partition(":")
        check_name(name)
        if not colon:
            return cls(name, alias=LATEST)
        number = _VERSION.fullmatch(selector)
        if number:
            if int(number.group(1)) < 1:
                raise ArtifactError(f"invalid reference {text!r}: versions start at v1")
            return cls(name, version=int(number.group(1)))
        if not _ALIAS.fullmatch(selector):
            raise ArtifactError(
                f"invalid reference {text!r}: expected NAME, NAME:vN or NAME:ALIAS"
            )
        return cls(name, alias=selector)

    @property
    def selector(self) -> str:
        """The part after the colon: ``v3`` or the alias."""
        return version_label(self.version) if self.version is not None else str(self.alias)

    def __str__(self) -> str:
        return f"{self.name}:{self.selector}"
