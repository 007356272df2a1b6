"""The Thunderbird discoverer: one ``thunderbird:PROFILE_DIR`` store per profile with mail."""

from __future__ import annotations

from collections.abc import Iterator

from inbox_finder.boundary.discovery import Places, Store, is_mbox_file, walk_files

from .profiles import Account, accounts, find_profiles

CLIENT = "Thunderbird"
# Files in a store directory that are never mail (skipped without being opened).
NOT_MAIL_SUFFIXES = (".msf", ".dat", ".json", ".html", ".sqlite", ".js", ".txt", ".log", ".lock")


def mail_bytes(account: Account) -> int:
    """The bytes of the account's messages: its mbox folder files (those starting with
    ``From ``; five bytes of each are read) or its Maildir ``cur/`` and ``new/`` files."""
    total = 0
    for folder, entry in walk_files(account.path):
        if entry.name.startswith("."):
            continue
        if account.kind == "maildir":
            total += entry.size if folder.name in ("cur", "new") else 0
        elif not entry.name.lower().endswith(NOT_MAIL_SUFFIXES):
            total += entry.size if is_mbox_file(entry.path, account.path) else 0
    return total


def thunderbird_stores(places: Places) -> Iterator[Store]:
    """Every Thunderbird profile of this platform that holds an account store with mail."""
    for profile in find_profiles(places):
        stores = accounts(profile.path)
        size = sum(mail_bytes(account) for account in stores)
        if size:  # a profile whose folders hold no message would be an error to search
            yield Store(f"thunderbird:{profile.path}", CLIENT, profile.path, size, "bytes")
