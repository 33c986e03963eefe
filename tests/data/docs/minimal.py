# /// script
# [tool.runspec]
# name = "demo/minimal"
# ///
"""The smallest recipe: every other field takes its default."""
