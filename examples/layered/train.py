# /// script
# requires-python = ">=3.10"
# dependencies = ["runspec[omegaconf]"]
#
# [tool.runspec]
# schema = "1"
# name = "examples/layered"
# setup = "Needs the omegaconf extra: pip install 'runspec[omegaconf]'."
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# dir = "./config"
# default = "default"
# format = "omegaconf"
#
# [tool.runspec.resources]
# nodes = 1
# gpus_per_node = 0
# ///
"""A recipe whose YAML configs build on a shared base (``defaults:``), read with one call.

``python -m runspec run examples/layered/train.py -c tiny train.lr=0.01`` runs it with
its job config; ``python examples/layered/train.py --config examples/layered/config/tiny.yaml
train.lr=0.01`` runs it directly from a config file. Either way ``load_job_config`` reads the
command line, and ``${oc.env:...}`` values resolve here, in the job.
"""

from __future__ import annotations

from pathlib import Path

from runspec_extras.omegaconf_config import load_job_config

DEFAULT_CONFIG = Path(__file__).parent / "config" / "default.yaml"


def main() -> None:
    config = load_job_config(default=DEFAULT_CONFIG)
    model, train = config.model, config.train
    print(f"model {model.name}: {model.layers} layers of {model.hidden}")
    print(f"train {train.steps} steps at lr {train.lr} (seed {train.seed})")
    print(f"cache {config.data.cache}")


if __name__ == "__main__":
    main()
