"""Keeping secrets out of what runspec prints."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["MASK", "is_secret", "masked"]

MASK = "********"
_SECRET = re.compile(r"token|key|secret|password", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """Whether a variable's name says it holds a secret (``*token*``, ``*key*``, ...)."""
    return _SECRET.search(name) is not None


def masked(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with the values of secret-looking names replaced by a mask."""
    return {name: MASK if is_secret(name) else value for name, value in env.items()}
