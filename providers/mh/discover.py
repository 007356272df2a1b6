"""Finding MH mail trees: ``~/Mail`` when it has the MH shape, and nmh's ``Path:``.

``~/Mail`` is also where mutt keeps Maildirs and mbox files, so it is claimed only when a
folder in it (it, or a directory one or two levels below) looks like MH: nmh's
``.mh_sequences``, Claws Mail's ``.claws_mark`` / ``.claws_cache``, or numbered message files
(one of which must not start like an mbox, ``From ``: mutt users name yearly mbox archives
``2024``). The nmh
profile (``$MH``, else ``~/.mh_profile``) names the mail root in its ``Path:`` line
(relative to the home directory). Nothing but directory listings, the profile and those five
bytes is read; symlinks are not followed, FIFOs and devices never opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from inbox_finder.boundary.discovery import Places, Store

from .provider import MhProvider

CLIENT = "MH (nmh, Claws Mail)"
MARKERS = (".mh_sequences", ".claws_mark", ".claws_cache")
MAX_PROFILE = 65536  # bytes of .mh_profile read
LOOKED_AT = 2  # directory levels below the root looked at for the MH shape
MAX_ENTRIES = 5000  # entries per directory looked at


def discover_mh(places: Places) -> Iterator[Store]:
    """The MH trees of ``places``: the profile's ``Path:``, then ``~/Mail``."""
    roots = [p for p in (_profile_path(places), places.home / "Mail") if p is not None]
    for root in roots:
        count = _mh_count(root, LOOKED_AT)
        if count is not None:
            yield Store(f"mh:{root}", CLIENT, root, count, "messages")


def _profile_path(places: Places) -> Path | None:
    """The ``Path:`` of the nmh profile, if there is one (relative: below the home)."""
    profile = Path(places.env["MH"]) if places.env.get("MH") else places.home / ".mh_profile"
    if not profile.is_absolute():
        profile = places.home / profile
    text = _read_small(profile)
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().casefold() == "path" and value.strip():
            path = Path(value.strip()).expanduser()
            return path if path.is_absolute() else places.home / path
    return None


def _read_small(path: Path) -> str | None:
    """A small regular file's text (never a FIFO, device or huge file); None otherwise."""
    from ..local.walk import open_regular  # lazy: only when discovering

    try:
        fd = open_regular(path)
    except Exception:  # any unreadable profile is no profile
        return None
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(MAX_PROFILE).decode("utf-8", "replace")


def _not_mbox(path: Path) -> bool:
    """True when ``path`` is a regular file that does not start like an mbox."""
    from ..local.walk import open_regular  # lazy: only when discovering

    try:
        fd = open_regular(path)
    except Exception:  # unreadable: not evidence either way
        return False
    if fd is None:
        return False
    with os.fdopen(fd, "rb") as fh:
        return fh.read(5) != b"From "


def _mh_count(root: Path, depth: int) -> int | None:
    """Message files in the MH folders at or below ``root``; None unless one has MH shape."""
    if os.path.islink(root) or not root.is_dir():
        return None
    shaped, count = _look(root, depth)
    return count if shaped else None


def _look(directory: Path, depth: int) -> tuple[bool, int]:
    """(MH shape anywhere, messages in shaped folders) of ``directory`` and ``depth`` below."""
    marked, numbered = False, []
    shaped, count = False, 0
    try:
        with os.scandir(directory) as it:
            entries = [e for _, e in zip(range(MAX_ENTRIES), it, strict=False)]
    except OSError:
        return False, 0
    for entry in entries:
        try:
            if entry.is_symlink():
                continue  # never followed out of (or around) the store
            if not entry.is_dir(follow_symlinks=False):
                if not entry.is_file(follow_symlinks=False):
                    continue  # a FIFO, socket or device: never opened
                if entry.name in MARKERS:
                    marked = True
                elif MhProvider.is_message(entry.name):
                    numbered.append(Path(entry.path))
            elif depth > 0 and not entry.name.startswith("."):
                sub_shaped, sub_count = _look(Path(entry.path), depth - 1)
                shaped, count = shaped or sub_shaped, count + sub_count
        except OSError:
            continue
    if marked or (numbered and _not_mbox(min(numbered))):
        return True, count + len(numbered)
    return shaped, count
