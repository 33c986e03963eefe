# /// script
# requires-python = ">=3.10"
# dependencies = ["pyyaml"]
#
# [tool.runspec]
# name = "tiny/pretrain"
# image = "python:3.12-slim"
# setup = "Python with PyYAML; CPU only."
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "yaml"
#
# [tool.runspec.resources]
# nodes = 1
# gpus_per_node = 0
# ///
"""Fits y = a * x + b by gradient descent from zero; YAML config (model, data, train)."""

import argparse
import random

import yaml

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", required=True)
parser.add_argument("--quiet", action="store_true", help="print only the result")
args = parser.parse_args()
with open(args.config, encoding="utf-8") as handle:
    config = yaml.safe_load(handle)
data, train = config["data"], config["train"]
rng = random.Random(train["seed"])
xs = [rng.uniform(-1.0, 1.0) for _ in range(data["samples"])]
ys = [data["slope"] * x + data["intercept"] for x in xs]
a, b = config["model"]["init"]
for step in range(1, train["steps"] + 1):
    errors = [a * x + b - y for x, y in zip(xs, ys, strict=True)]
    loss = sum(e * e for e in errors) / len(errors)
    a -= train["lr"] * 2 * sum(e * x for e, x in zip(errors, xs, strict=True)) / len(xs)
    b -= train["lr"] * 2 * sum(errors) / len(xs)
    if not args.quiet and step % max(1, train["steps"] // 4) == 0:
        print(f"step {step:4d}  loss {loss:.6f}")
print(f"{config['run']['recipe']['name']}: a={a:.3f} b={b:.3f}")
