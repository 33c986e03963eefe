"""Environment variables: which names are valid, and how a value is written as text."""

from __future__ import annotations

import re

__all__ = ["ENV_NAME", "env_text"]

#: a shell identifier: what the recipe's env, a profile's env_vars and ``export`` accept
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_text(value: object) -> str:
    """A TOML or JSON scalar as an environment value: booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
