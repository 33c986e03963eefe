# /// script
# dependencies = ["ray[default]"]
#
# [tool.runspec]
# name = "slurm-tests/ray"
#
# [tool.runspec.run]
# launch = "ray"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# nodes = 3
# gpus_per_node = 8
# ///
"""Counts the nodes of the Ray cluster runspec started (golden-file tested only)."""

from __future__ import annotations

import ray

ray.init()
print(len(ray.nodes()), "nodes")
