"""Render ``inbox-finder --help`` with click for the widths the console script answers alone.

``python -m inbox_finder.cli.helpgen`` rewrites :mod:`inbox_finder.cli.helptext` after a
change to the group's help, options or command list; a test fails until it is rerun.
"""

from __future__ import annotations

from pathlib import Path

from inbox_finder.cli.helptext import MAX_CONTENT_WIDTH
from inbox_finder.cli.main import cli

# A pipe or cron (no terminal: shutil's 80-column fallback) and any terminal >= 102 columns.
WIDTHS = (78, MAX_CONTENT_WIDTH - 2)


def render(width: int) -> str:
    """The help click prints when its formatter is ``width`` wide (its trailing newline too)."""
    settings = cli.context_settings
    with cli.context_class(cli, info_name="inbox-finder", terminal_width=width, **settings) as ctx:
        return ctx.get_help() + "\n"


def _literal(text: str) -> str:
    """``text`` as a triple-quoted literal, its lines as printed (repr if it cannot be one)."""
    trailing_blank = any(line != line.rstrip() for line in text.splitlines())
    if "\\" in text or '"""' in text or trailing_blank:
        return repr(text)
    return f'"""\\\n{text}"""'


def module_text() -> str:
    """The source of helptext.py with freshly rendered texts."""
    path = Path(__file__).with_name("helptext.py")
    head = path.read_text(encoding="utf-8").split("HELP: dict[int, str] = ", 1)[0]
    body = "".join(f"    {width}: {_literal(render(width))},\n" for width in WIDTHS)
    return f"{head}HELP: dict[int, str] = {{\n{body}}}\n"


def main() -> None:
    path = Path(__file__).with_name("helptext.py")
    path.write_text(module_text(), encoding="utf-8")
    print(f"wrote {path} (widths {', '.join(map(str, WIDTHS))})")


if __name__ == "__main__":
    main()
