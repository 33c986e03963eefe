# /// script
# [tool.runspec]
# schema = "1"
# nmae = "demo/broken"
#
# [tool.runspec.run]
# launch = "python"
#
# [tool.runspec.resources]
# nodes = 0
# gpus_per_node = "gpu"
#
# [tool.runspec.env]
# "1X" = "a"
# SEED = 7
# ///
"""A recipe with one of each common mistake; docs/spec.md checks it."""

print("never run: runspec refuses recipes with errors")
