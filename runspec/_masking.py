"""Keeping secrets out of what runspec prints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "has_secrets", "is_secret", "masked", "masked_tree"]

MASK = "********"
_SECRET = re.compile(r"token|key|secret|password", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """Whether a variable's name says it holds a secret (``*token*``, ``*key*``, ...)."""
    return _SECRET.search(name) is not None


def masked(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with the values of secret-looking names replaced by a mask."""
    return {name: MASK if is_secret(name) else value for name, value in env.items()}


def masked_tree(data: Any) -> Any:
    """A copy of a config tree with every scalar under a secret-looking key masked."""
    if isinstance(data, Mapping):
        return {
            key: MASK
            if is_secret(str(key)) and not isinstance(value, (Mapping, list))
            else masked_tree(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [masked_tree(item) for item in data]
    return data


def has_secrets(data: Any) -> bool:
    """Whether a config tree holds a value under a secret-looking key."""
    return bool(masked_tree(data) != data)
