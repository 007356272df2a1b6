"""The console script: ``--help`` and ``--version`` answered without importing click.

Everything else, and any terminal width the stored help was not rendered for, goes to the
click command line in :mod:`inbox_finder.cli.main`.
"""

from __future__ import annotations

import sys

from inbox_finder import __version__

VERSION_LINE = f"inbox-finder, version {__version__}\n"  # what click's version_option prints


def fast_answer(args: list[str]) -> str | None:
    """What ``inbox-finder ARGS`` prints, when the stored text is click's for this terminal."""
    if len(args) != 1:
        return None
    if args[0] == "--version":
        return VERSION_LINE
    if args[0] not in ("-h", "--help"):
        return None
    from inbox_finder.cli.helptext import HELP, help_width

    return HELP.get(help_width())


def run() -> None:
    """The ``inbox-finder`` console script and ``python -m inbox_finder``."""
    text = fast_answer(sys.argv[1:])
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("_", "-")
    if text is not None and encoding in ("utf-8", "utf8"):
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `inbox-finder --help | head -0`: quiet exit 1, as click does
            _silence_stdout()
            sys.exit(1)
        sys.exit(0)
    _click()


def _silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _click() -> None:
    from inbox_finder.cli.main import run as run_click

    run_click()
