"""Optional integrations of runspec, each imported lazily and only when used.

Installing ``runspec[full]`` brings every package these need. Each module imports
its packages inside the functions that use them, under
:func:`runspec_extras._optional.importing`, so that a missing one is reported with
the extra to install and a broken one with its real import error.
"""

from __future__ import annotations

__all__: list[str] = []
