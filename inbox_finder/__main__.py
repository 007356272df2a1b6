"""``python -m inbox_finder``."""

from .cli import run

run()
