"""The names Evolution shows for its accounts, read from the account sources it keeps.

Every account is an ESource: ``$XDG_CONFIG_HOME/evolution/sources/UID.source`` (default
``~/.config/…``), a GLib key file whose ``[Data Source]`` group holds ``DisplayName``. The
cache directory of an account is named by the same UID, so the display name can head the
account's folder names (``dana@example.com/INBOX``) when the whole cache is searched. It is
only ever shown: scan cursors are keyed by the cache paths, so an address that is a display
name never lands in a scan state. Only small regular files are read (discovery.read_small).
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterable
from pathlib import Path

from inbox_finder.boundary.discovery import Places, read_small

SOURCE_GROUP = "Data Source"
MAX_SOURCE = 65536  # bytes of a .source file read


def sources_dir(places: Places) -> Path:
    """``$XDG_CONFIG_HOME/evolution/sources`` (default ``~/.config/evolution/sources``)."""
    value = places.env.get("XDG_CONFIG_HOME")
    base = Path(value) if value and os.path.isabs(value) else places.home / ".config"
    return base / "evolution" / "sources"


def display_name(uid: str, places: Places) -> str | None:
    """The account's ``DisplayName``; None when its source is missing or unreadable."""
    raw = read_small(sources_dir(places) / f"{uid}.source", limit=MAX_SOURCE)
    if raw is None:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(raw.decode("utf-8", "replace"))
        name = parser.get(SOURCE_GROUP, "DisplayName", fallback="").strip()
    except configparser.Error:
        return None
    return name or None


def account_labels(uids: Iterable[str], places: Places) -> dict[str, str]:
    """UID -> the name heading its folders: the display name when it is one path component
    and no other account has it, else the UID itself."""
    uids = list(uids)
    names = {uid: display_name(uid, places) for uid in uids}
    taken = [n for n in names.values() if n]
    labels: dict[str, str] = {}
    for uid, name in names.items():
        usable = name and "/" not in name and taken.count(name) == 1 and name not in uids
        labels[uid] = name if usable and name else uid
    return labels
