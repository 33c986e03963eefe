# /// script
# [tool.runspec]
# name = "demo/unclosed"
# ///  
"""The closing line above has two trailing spaces, so the block never closes."""
