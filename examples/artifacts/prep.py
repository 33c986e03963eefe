# /// script
# requires-python = ">=3.10"
# dependencies = ["runspec[omegaconf,artifacts]"]
#
# [tool.runspec]
# schema = "1"
# name = "examples/artifacts-prep"
# setup = "Needs runspec[omegaconf,artifacts]; env.toml [artifacts] root names the registry."
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# dir = "./config/prep"
# default = "default"
# format = "omegaconf"
#
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""Data preparation: writes a tiny data set and publishes it as the artifact ``data``.

The files go into the job folder, then :func:`runspec_extras.artifacts.publish` copies
them into the registry as the next version, with this job as its producer.
"""

import json
import os
from pathlib import Path

from runspec_extras.artifacts import publish
from runspec_extras.omegaconf_config import load_job_config

config = load_job_config()
out = Path(os.environ.get("RUNSPEC_JOB_DIR", ".")) / "data"
out.mkdir(parents=True, exist_ok=True)
rows = [{"x": i, "y": 2 * i + 1} for i in range(config.rows)]
(out / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
(out / "blend.json").write_text(json.dumps({"train": ["train.jsonl"], "weights": [1.0]}))
version = publish(config.artifact, out, metadata={"rows": config.rows, "pack_size": 64})
print(f"published {version.ref}")
