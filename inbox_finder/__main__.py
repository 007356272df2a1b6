"""``python -m inbox_finder``."""

from inbox_finder.cli.main import run

run()
