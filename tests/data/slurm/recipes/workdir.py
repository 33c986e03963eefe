# /// script
# [tool.runspec]
# name = "slurm-tests/workdir"
#
# [tool.runspec.run]
# launch = "direct"
# workdir = "/opt/app"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""Render-only recipe: declares a working folder inside its container."""
