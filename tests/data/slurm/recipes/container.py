# /// script
# [tool.runspec]
# name = "slurm-tests/container"
# image = "nvcr.io/nvidia/pytorch:24.01-py3"
#
# [tool.runspec.run]
# launch = "direct"
# cmd = "python {script} --config {config} --out ${run.job.dir}/result.txt"
# workdir = ".."
#
# [tool.runspec.config]
# format = "json"
#
# [tool.runspec.resources]
# gpus_per_node = 1
# ///
"""A recipe that runs in a container image (pyxis/enroot); golden-file tested."""

print("in a container")
