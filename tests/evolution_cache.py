"""An Evolution mail cache built on disk for the tests, laid out as evolution-data-server's
Camel data cache writes it: two accounts (IMAPX with ``subfolders/``, EWS with SHA-256 names
and plain nesting), state files beside the messages, hash directories from ``g_str_hash``."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

from desktop_stores import StoreMailbox, set_time

from inbox_finder.testing import Message

IMAP_UID = "1f3b0c2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"  # ESource uids are SHA-1 hex
EWS_UID = "7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"
_serial = itertools.count(100)


def str_hash(key: str) -> int:
    """GLib's ``g_str_hash`` (djb2 over signed chars, 32 bits)."""
    h = 5381
    for byte in key.encode("utf-8"):
        signed = byte - 256 if byte > 127 else byte
        h = (h * 33 + signed) & 0xFFFFFFFF
    return h


def cache_file(folder_dir: Path, sub: str, key: str) -> Path:
    """Where ``camel_data_cache`` keeps ``key`` under ``sub`` (cur, tmp, new) of a folder."""
    bucket = folder_dir / sub / f"{(str_hash(key) >> 5) & 0x3F:02x}"
    bucket.mkdir(parents=True, exist_ok=True)
    return bucket / key


def account_dir(cache: Path, uid: str) -> Path:
    """An account's cache directory with the state files Camel keeps there."""
    account = cache / uid
    (account / "folders").mkdir(parents=True, exist_ok=True)
    (account / "folders.db").write_bytes(b"SQLite format 3\0" + b"\0" * 84)
    (account / ".ev-store-summary").write_bytes(b"\0\0\0\x03" + b"\0" * 28)
    return account


def folder_dir(account: Path, name: str, *, imapx: bool = True) -> Path:
    """The directory of folder ``name`` (``A/B``): ``A/subfolders/B`` (IMAPX) or ``A/B`` (EWS)."""
    joiner = "/subfolders/" if imapx else "/"
    path = account / "folders" / joiner.join(name.split("/"))
    path.mkdir(parents=True, exist_ok=True)
    (path / "cmeta").write_bytes(b"CLMD\0\0\0\x02")
    return path


class EvolutionMailbox(StoreMailbox):
    """``~/.cache/evolution/mail``: an IMAP account (INBOX, INBOX/Salesforce, Trash) and an
    Exchange account (Inbox/Salesforce); file mtime = when Evolution downloaded the message."""

    SCHEME = "evolution"
    LOCATION = (".cache", "evolution", "mail")
    FOLDERS = (
        (IMAP_UID, "INBOX", True),
        (IMAP_UID, "INBOX/Salesforce", True),
        (EWS_UID, "Inbox/Salesforce", False),
        (IMAP_UID, "Trash", True),
    )

    def _build(self, messages: Sequence[Message]) -> None:
        for uid, name, imapx in self.FOLDERS:
            folder_dir(account_dir(self.path, uid), name, imapx=imapx)
        super()._build(messages)

    def add(self, message: Message) -> None:
        n = next(_serial)
        uid, name, imapx = self.FOLDERS[n % len(self.FOLDERS)]
        folder = folder_dir(self.path / uid, name, imapx=imapx)
        key = str(n) if imapx else hashlib.sha256(f"AAMkAD{n}=".encode()).hexdigest()
        path = cache_file(folder, "cur", key)
        path.write_bytes(message.raw)
        set_time(path, message.received)
