"""nemo-run, imported once and quietly: its own imports warn about its dependencies'
deprecations, which are not the user's concern."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import nemo_run

__all__ = ["nemo_run"]
