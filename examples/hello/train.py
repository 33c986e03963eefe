# /// script
# requires-python = ">=3.10"
# dependencies = []
#
# [tool.runspec]
# schema = "1"
# name = "examples/hello"
# setup = "Plain Python: runs anywhere, no packages needed."
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# dir = "./config"
# default = "default"
# format = "json"
#
# [tool.runspec.resources]
# nodes = 1
# gpus_per_node = 0
#
# [tool.runspec.env]
# HELLO_GREETING = "hello from runspec"
# ///
"""A tiny training recipe: fits y = a*x + b by gradient descent, configured by its job config.

Run it with ``python -m runspec run examples/hello/train.py``; runspec writes the job config
(the chosen file from ``config/``, overrides applied, a ``run`` section added) and calls
``python train.py --config <job config>``.
"""

from __future__ import annotations

import argparse
import json
import os
import random


def fit(
    steps: int, lr: float, seed: int, slope: float, intercept: float
) -> tuple[float, float, float]:
    """Fit a line to noisy samples of ``slope * x + intercept``; return (a, b, final loss)."""
    rng = random.Random(seed)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(64)]
    ys = [slope * x + intercept + rng.gauss(0.0, 0.01) for x in xs]
    a = b = loss = 0.0
    for step in range(1, steps + 1):
        errors = [a * x + b - y for x, y in zip(xs, ys, strict=True)]
        loss = sum(e * e for e in errors) / len(errors)
        a -= lr * 2 * sum(e * x for e, x in zip(errors, xs, strict=True)) / len(xs)
        b -= lr * 2 * sum(errors) / len(xs)
        if step % max(1, steps // 5) == 0:
            print(f"step {step:4d}  loss {loss:.6f}", flush=True)
    return a, b, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="job config (JSON) written by runspec")
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    print(os.environ.get("HELLO_GREETING", "hello"), "-", config["run"]["recipe"]["name"])
    train = config["train"]
    a, b, loss = fit(train["steps"], train["lr"], train["seed"], *config["data"]["line"])
    print(f"fitted a={a:.3f} b={b:.3f} (loss {loss:.6f})")


if __name__ == "__main__":
    main()
