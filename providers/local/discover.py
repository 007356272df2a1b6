"""Discoverers for mail that desktop clients keep as plain Maildir or mbox: Evolution, mutt.

Evolution keeps "On This Computer" as a Maildir++ tree in
``$XDG_DATA_HOME/evolution/mail/local`` (Evolution 3; ``~/.evolution/mail/local`` held mbox
files with ``.sbd`` directories before). Its IMAP cache, ``~/.cache/evolution/mail/ACCOUNT/
folders/…/cur/HH/UID``, is a Camel data cache (one file per message under hashed
directories), neither Maildir nor mbox: ``evolution:`` reads it and providers/evolution/
discovers it. mutt and neomutt read ``$MAIL`` (a spool mbox or a Maildir), ``~/Mail``, ``~/Maildir``
and ``~/mbox``.

``~/Mail`` is also where Claws Mail keeps MH folders (numbered files, ``.mh_sequences``):
those belong to the ``mh:`` discoverer. Each path is claimed only by its shape (see
``discovery.shape``): a Maildir tree as ``maildir:``, else mbox files as ``mbox:``, else
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from inbox_finder.boundary.discovery import (
    Places,
    Store,
    data_home,
    is_mbox_file,
    shape,
    walk_files,
)

MUTT = "mutt"
EVOLUTION = "Evolution"
# Files beside mbox folders that are indexes and state, never mail (skipped unopened).
NOT_MAIL_SUFFIXES = (".msf", ".cmeta", ".ev-summary", ".ev-summary-meta", ".index", ".data")


def maildir_messages(root: Path) -> int:
    """How many message files the ``cur/`` and ``new/`` directories below ``root`` hold."""
    return sum(1 for folder, _ in walk_files(root) if folder.name in ("cur", "new"))


def mbox_bytes(root: Path) -> int:
    """The bytes of the (non-hidden) mbox files below ``root`` (five bytes of each are read)."""
    return sum(
        entry.size
        for _, entry in walk_files(root)
        if not entry.name.startswith(".")
        and not entry.name.endswith(NOT_MAIL_SUFFIXES)
        and is_mbox_file(entry.path, root)
    )


def store_at(path: Path, client: str) -> Store | None:
    """The Maildir tree, mbox directory or mbox file at ``path``; None for anything else."""
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError:
        return None
    if is_file:
        if not is_mbox_file(path):
            return None
        return Store(f"mbox:{path}", client, path, path.stat().st_size, "bytes")
    if not is_dir:
        return None
    kinds = shape(path)
    if "maildir" in kinds:
        return Store(f"maildir:{path}", client, path, maildir_messages(path), "messages")
    if "mbox" in kinds:
        return Store(f"mbox:{path}", client, path, mbox_bytes(path), "bytes")
    return None  # MH folders, or no mail at all


def evolution_stores(places: Places) -> Iterator[Store]:
    """Evolution's local folders: the Maildir of Evolution 3, the mbox tree of Evolution 2."""
    for path in (
        data_home(places) / "evolution" / "mail" / "local",
        places.home / ".evolution" / "mail" / "local",
    ):
        store = store_at(path, EVOLUTION)
        if store is not None:
            yield store


def mutt_stores(places: Places) -> Iterator[Store]:
    """What mutt and neomutt read by default: ``$MAIL``, ``~/Mail``, ``~/Maildir``, ``~/mbox``."""
    spool = places.env.get("MAIL", "")
    paths = [Path(spool)] if spool and os.path.isabs(spool) else []
    paths += [places.home / "Mail", places.home / "Maildir", places.home / "mbox"]
    for path in paths:
        store = store_at(path, MUTT)
        if store is not None:
            yield store
