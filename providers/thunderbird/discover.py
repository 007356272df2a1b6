"""The Thunderbird discoverer: one ``thunderbird:PROFILE_DIR`` store per profile with mail."""

from __future__ import annotations

from collections.abc import Iterator

from inbox_finder.boundary.discovery import Places, Store, walk_files

from .profiles import Account, accounts, find_profiles

CLIENT = "Thunderbird"
# Files in a store directory that are not mail: summaries, indexes, state, logs.
NOT_MAIL_SUFFIXES = (".msf", ".dat", ".json", ".html", ".sqlite", ".js", ".txt", ".log", ".lock")


def mail_bytes(account: Account) -> int:
    """The bytes of an account's folder files (summaries and state files left out)."""
    total = 0
    for _, entry in walk_files(account.path):
        if not entry.name.startswith(".") and not entry.name.lower().endswith(NOT_MAIL_SUFFIXES):
            total += entry.size
    return total


def thunderbird_stores(places: Places) -> Iterator[Store]:
    """Every Thunderbird profile of this platform that holds an account store with mail."""
    for profile in find_profiles(places):
        stores = accounts(profile.path)
        size = sum(mail_bytes(account) for account in stores)
        if stores and size:
            yield Store(f"thunderbird:{profile.path}", CLIENT, profile.path, size, "bytes")
