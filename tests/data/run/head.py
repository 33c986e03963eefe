# /// script
# [tool.runspec]
# name = "tests/head"
#
# [tool.runspec.run]
# launch = "direct"
#
# [tool.runspec.config]
# format = "json"
# default = "head"
# ///
"""Test recipe: reads a few bytes of stdin, prints them, and exits 0 without reading more."""

import argparse
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--config", required=True)
args = parser.parse_args()
with open(args.config, encoding="utf-8") as handle:
    count = json.load(handle)["bytes"]
sys.stdout.buffer.write(sys.stdin.buffer.read(count))
