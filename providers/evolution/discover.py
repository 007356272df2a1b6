"""Finding Evolution's offline mail cache: one store per remote account that has mail cached.

Evolution keeps what it downloads of IMAP and Exchange (EWS) accounts under
``$XDG_CACHE_HOME/evolution/mail/ACCOUNT/folders/`` (default ``~/.cache/…``; see provider.py
for the layout). Each account directory with at least one complete cached message is listed
as ``evolution:ACCOUNT_DIR``, sized by its messages. Only directory listings are read (the
shared safe walk of discovery.py: no symlink out of the cache followed, no FIFO opened);
downloads in progress (``tmp/``, ``cur/HH/KEY.XXXXXX``) and state files are not counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from inbox_finder.boundary.discovery import Places, Store, entries, walk_files

from .provider import FOLDERS, HASH_DIRS, EvolutionProvider, cache_root, is_account

CLIENT = "Evolution"


def discover_evolution_cache(places: Places) -> Iterator[Store]:
    """Every account directory of Evolution's mail cache that holds cached messages."""
    root = cache_root(places)
    for account in entries(root):
        if account.kind != "dir" or account.name.startswith("."):
            continue
        if not is_account(account.path):
            continue
        count = cached_messages(account.path / FOLDERS)
        if count:
            yield Store(f"evolution:{account.path}", CLIENT, account.path, count, "messages")


def cached_messages(folders: Path) -> int:
    """How many complete, non-empty message files the ``cur/HH/`` directories below hold."""
    return sum(
        1
        for directory, entry in walk_files(folders)
        if directory.name in HASH_DIRS
        and directory.parent.name == "cur"
        and entry.size > 0
        and EvolutionProvider.is_message(entry.name)
        and not entry.name.startswith(".")
    )
