"""Finding folders of Outlook ``.msg`` files: where drag-and-drop out of Outlook lands.

Looks in ``~/Desktop``, ``~/Documents`` and ``~/Downloads`` and in the directories right
below them (not deeper, not hidden, no symlink followed) and lists each directory that holds
``.msg`` files directly, with their count. A drop place holding some itself is listed
alone (``msg:DIR`` searches below it too), so no file is listed twice. Only directory
listings are read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from inbox_finder.boundary.discovery import Places, Store

CLIENT = "Outlook (.msg files)"
PLACES = ("Desktop", "Documents", "Downloads")
MAX_ENTRIES = 5000  # entries per directory looked at


def discover_msg(places: Places) -> Iterator[Store]:
    """Every directory at or one level below the usual drop places that holds ``.msg`` files."""
    for name in PLACES:
        base = places.home / name
        if base.is_symlink() or not base.is_dir():
            continue
        count, subdirs = _listing(base)
        if count:
            yield Store(f"msg:{base}", CLIENT, base, count, "messages")
            continue
        for sub in subdirs:
            sub_count, _ = _listing(sub)
            if sub_count:
                yield Store(f"msg:{sub}", CLIENT, sub, sub_count, "messages")


def _listing(directory: Path) -> tuple[int, list[Path]]:
    """(.msg regular files in ``directory``, its non-hidden real subdirectories)."""
    count, subdirs = 0, []
    try:
        with os.scandir(directory) as it:
            entries = [e for _, e in zip(range(MAX_ENTRIES), it, strict=False)]
    except OSError:
        return 0, []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_symlink():
                continue  # never followed: it may lead out of the home
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(".msg"):
                count += 1
        except OSError:
            continue
    return count, sorted(subdirs)
