"""``python -m inbox_finder``."""

from inbox_finder.cli.entry import run

run()
