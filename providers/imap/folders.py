"""IMAP folders: one LIST, special-use roles, and which folders a search visits.

``list_folders`` issues one LIST. Where the server offers LIST-STATUS (RFC 5819) it is
``LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UIDNEXT UIDVALIDITY))``, so the same round
trip tells which folders are empty (never opened) and, for scans, which changed; with
SPECIAL-USE (RFC 6154) alone it asks for the special-use attributes, else a plain LIST.
``\\Noselect`` and ``\\NonExistent`` entries (hierarchy placeholders) are skipped; names are
decoded from modified UTF-7 by imapclient.

Roles: ``\\Trash`` and ``\\Junk`` special-use attributes, else the folder's last name
component (Trash, Deleted Items, Junk, Spam, ...). On Gmail (X-GM-EXT-1) every label is a
folder and "[Gmail]/All Mail" (``\\All``) holds every message but those in Trash and Spam, so
the whole mailbox is ``\\All`` + ``\\Trash`` + ``\\Junk``, not every label.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_response

from inbox_finder.boundary.folders import FolderInfo, FolderScope, resolve, role_from_name
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.model import FolderRole

log = logging.getLogger("inbox_finder.providers.imap")

STATUS_ITEMS = "(MESSAGES UIDNEXT UIDVALIDITY)"
_SKIP = frozenset({b"\\noselect", b"\\nonexistent"})
_ROLES: dict[bytes, FolderRole] = {b"\\trash": "trash", b"\\junk": "junk"}
GMAIL_WHOLE = (b"\\all", b"\\trash", b"\\junk")


@dataclass(frozen=True)
class Status:
    """What STATUS (or LIST-STATUS) says about a folder."""

    messages: int | None
    uidnext: int | None
    uidvalidity: int | None


@dataclass
class Listing:
    """A mailbox's selectable folders, their special-use attributes and LIST-STATUS answers."""

    folders: list[FolderInfo]
    uses: dict[str, frozenset[bytes]] = field(default_factory=dict)
    status: dict[str, Status] = field(default_factory=dict)
    gmail: bool = False

    def special(self, use: bytes) -> FolderInfo | None:
        """The folder carrying special-use attribute ``use`` (lower-case, e.g. b'\\\\all')."""
        return next((f for f in self.folders if use in self.uses.get(f.key, frozenset())), None)


def list_folders(client: IMAPClient) -> Listing:
    """One LIST (with STATUS and SPECIAL-USE where offered): every selectable folder."""
    with_status = client.has_capability("LIST-STATUS")
    special = client.has_capability("SPECIAL-USE") or client.has_capability("X-GM-EXT-1")
    if with_status:
        options = ["SPECIAL-USE"] if client.has_capability("SPECIAL-USE") else []
        lists, statuses = _list_extended(client, [*options, f"STATUS {STATUS_ITEMS}"])
    elif special and client.has_capability("LIST-EXTENDED"):
        lists, statuses = _list_extended(client, ["SPECIAL-USE"])
    else:
        lists, statuses = client.list_folders(), {}
    folders: list[FolderInfo] = []
    uses: dict[str, frozenset[bytes]] = {}
    for flags, delimiter, name in lists:
        lowered = frozenset(f.lower() for f in flags if isinstance(f, bytes))
        if lowered & _SKIP:
            continue
        name = str(name)
        sep = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "")
        role = next((_ROLES[f] for f in lowered if f in _ROLES), None) or role_from_name(name, sep)
        aliases = (name.replace(sep, "/"),) if sep and sep != "/" and sep in name else ()
        folders.append(FolderInfo(name, name, role, aliases))
        uses[name] = lowered
    # INBOX first: on ties in receive time the earlier folder wins (see resolve()).
    folders.sort(key=lambda f: f.name.upper() != "INBOX")
    log.debug("LIST: %d selectable folders", len(folders))
    return Listing(folders, uses, statuses, client.has_capability("X-GM-EXT-1"))


def _list_extended(
    client: IMAPClient, returns: Sequence[str]
) -> tuple[list[tuple[Any, Any, str]], dict[str, Status]]:
    """``LIST "" "*" RETURN (...)``: imapclient has no call for it, so it goes through imaplib."""
    imap = client._imap
    typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", f"({' '.join(returns)})")
    if typ != "OK":
        raise MailboxError(f"LIST RETURN failed: {data!r:.200}")
    _, lists = imap._untagged_response(typ, data, "LIST")
    _, raw_status = imap._untagged_response(typ, data, "STATUS")
    listed = client._proc_folder_list(lists)
    return listed, _statuses([x for x in raw_status if x is not None])


def _statuses(data: list[Any]) -> dict[str, Status]:
    out: dict[str, Status] = {}
    if not data:
        return out
    parsed = parse_response(data)
    for name, items in zip(parsed[::2], parsed[1::2], strict=False):
        folder = decode_utf7(name) if isinstance(name, bytes) else str(name)
        values = dict(zip(items[::2], items[1::2], strict=False))

        def num(key: bytes, values: dict[Any, Any] = values) -> int | None:
            value = values.get(key)
            return value if isinstance(value, int) else None

        out[folder] = Status(num(b"MESSAGES"), num(b"UIDNEXT"), num(b"UIDVALIDITY"))
    return out


def searched_folders(
    listing: Listing, scopes: Sequence[FolderScope], where: str
) -> list[FolderInfo]:
    """The folders a search visits: every selectable one, or on Gmail \\All+\\Trash+\\Junk."""
    whole = [f for f in (listing.special(u) for u in GMAIL_WHOLE) if f is not None]
    if not listing.gmail or not whole:
        return resolve(listing.folders, scopes, where)
    chosen, restricted = whole, False
    for scope in scopes:
        if scope.include:
            named = resolve(listing.folders, [FolderScope(scope.include)], where)
            chosen = [f for f in named if f in chosen] if restricted else named
            restricted = True
        skipped = resolve(listing.folders, [FolderScope(scope.exclude)], where)
        for folder in skipped if scope.exclude else []:
            if not restricted and folder not in whole:
                raise ConfigError(
                    f"Gmail keeps the mail labelled {folder.name!r} in {whole[0].name!r} too, so "
                    "excluding that label would not exclude it; restrict with --folder instead"
                )
            chosen = [f for f in chosen if f != folder]
    return sorted(chosen, key=lambda f: f.role is not None)
