# /// script
# [tool.runspec]
# name = "docs/pretrain"
# image = "nvcr.io/nvidia/nemo:25.11"
#
# [tool.runspec.run]
# launch = "torchrun"
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# nodes = 4
# gpus_per_node = 8
# ///
"""A recipe whose config file says what it needs to run (docs/configs.md)."""
