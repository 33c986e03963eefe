# /// script
# [tool.runspec]
# name = "demo/first"
# ///
# /// script
# [tool.runspec]
# name = "demo/second"
# ///
"""Two touching script blocks: an error naming both opening lines."""
