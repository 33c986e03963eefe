"""The cookbook's command line: one command per recipe under recipes/ (see docs/toolkit.md)."""

import sys
from pathlib import Path

from runspec.cli import recipe_cli

if __name__ == "__main__":
    sys.exit(recipe_cli(Path(__file__).parent / "recipes", prog="cookbook")())
