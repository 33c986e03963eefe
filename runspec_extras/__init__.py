"""Optional integrations of runspec, each imported lazily and only when used.

Installing ``runspec[full]`` brings every package these need; a missing one is
reported by :func:`runspec_extras._optional.require` with the extra to install.
"""

from __future__ import annotations

__all__: list[str] = []
