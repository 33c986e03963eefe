# /// script
# [tool.runspec]
# name = "demo/yaml-errors"
#
# [tool.runspec.config]
# format = "omegaconf"
# ///
"""A recipe whose configs show the errors docs/configs.md describes."""
