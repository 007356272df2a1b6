"""``thunderbird:`` (every profile) or ``thunderbird:PROFILE_DIR``: a profile's mail, read-only.

Each account of the profile (see profiles.py) is read by the local providers: an mbox store
(``berkeleystore``) by ``mbox:`` on its directory (folder files without extension, ``.sbd``
subfolder directories, ``.msf`` summaries and other files skipped because they do not start
with ``From ``), a Maildir store by ``maildir:`` with ``.sbd`` dropped from folder names. A
folder is named as Thunderbird shows it: ``Local Folders/Salesforce/Tokens``, the account name
first (with ``thunderbird:`` and several profiles, the profile name before it). The accounts'
newest-first candidate streams are merged by receive time.

Deleting a message in an mbox store only sets the expunged flag (``0x0008`` of
nsMsgMessageFlags) in its ``X-Mozilla-Status`` header; the bytes stay until the folder is
compacted. Such a message still counts — its token may be the newest one issued — and is
marked ``folder_role = "deleted"``; so is an offline IMAP copy of a message flagged deleted on
the server (``IMAPDeleted``, ``0x00200000``, in ``X-Mozilla-Status2``), as the IMAP provider
counts mail flagged deleted but not expunged yet.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

from inbox_finder.boundary.discovery import Places
from inbox_finder.boundary.folders import (
    FolderInfo,
    FolderScope,
    IteratorStream,
    merge_newest,
    resolve,
    role_from_name,
)
from inbox_finder.boundary.provider import Provider, Query, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.model import Candidate, FolderRole

from ..local.maildir import MaildirProvider
from ..local.mboxtree import MboxTreeProvider
from ..local.stamps import parse_json_cursor
from ..local.walk import maildir_folders
from .profiles import accounts, find_profiles, profile_roots

EXPUNGED = 0x0008  # nsMsgMessageFlags::Expunged, in X-Mozilla-Status (the low 16 bits)
IMAP_DELETED = 0x00200000  # nsMsgMessageFlags::IMAPDeleted, in X-Mozilla-Status2
CURSOR_PREFIX = "thunderbird:"
_STATUS = re.compile(
    rb"^x-mozilla-status(2?)[ \t]*:[ \t]*([0-9a-f]{1,8})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)


def expunged(headers: bytes | None) -> bool:
    """True when the header block marks the message deleted but still stored: expunged
    (X-Mozilla-Status) or, in an offline IMAP copy, flagged deleted (X-Mozilla-Status2)."""
    for m in _STATUS.finditer(headers or b""):
        flag = IMAP_DELETED if m.group(1) else EXPUNGED
        if int(m.group(2), 16) & flag:
            return True
    return False


def _shown(name: str) -> str:
    return "/".join(part.removesuffix(".sbd") for part in name.split("/"))


class SbdMaildir(MaildirProvider):
    """A Thunderbird Maildir store: a directory per folder, subfolders in ``NAME.sbd/``."""

    def folders(self) -> list[FolderInfo]:
        if self._folders is None:
            self._folders = [
                FolderInfo(_shown(name), str(path.relative_to(self.path)), role_from_name(name))
                for name, path, _ in maildir_folders(self._tree)
            ]
        return self._folders


@dataclass(frozen=True)
class Member:
    """One account's store and the prefix its folder names get."""

    prefix: str
    provider: MboxTreeProvider | SbdMaildir

    @property
    def key(self) -> str:
        """The store's key in a cursor: a digest of its path (an account name is often an
        address, which a scan state file must not hold)."""
        return hashlib.sha256(str(self.provider.path).encode("utf-8")).hexdigest()[:16]


class ThunderbirdProvider(Provider):
    """Every account store of one or more Thunderbird profiles, merged newest first."""

    kind = "Thunderbird profile"

    def __init__(self, url: str, members: list[Member], scope: FolderScope | None = None):
        self._url = url
        self.members = members
        self.scope = scope or FolderScope()
        self._folders: list[tuple[FolderInfo, int, str]] | None = None

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        scheme, rest = split_scheme(url)
        if scheme != "thunderbird":
            raise ConfigError(f"not a thunderbird: source: {url!r}")
        rest = rest.removeprefix("//")
        if "\0" in rest:
            raise ConfigError("thunderbird: path contains a NUL character")
        if rest:
            path = Path(rest).expanduser()
            if not path.is_dir():
                raise ConfigError(f"Thunderbird profile not found (not a directory): {path}")
            profiles = [("", path)]
        else:
            places = Places.current()
            found = find_profiles(places)
            if not found:
                roots = ", ".join(str(r) for r in profile_roots(places))
                raise ConfigError(f"no Thunderbird profile found (looked in {roots})")
            several = len(found) > 1
            profiles = [(f"{p.name}/" if several else "", p.path) for p in found]
        provider = cls(url, members_of(profiles, url), options.scope)
        if not provider.folders():
            where = profiles[0][1] if rest else "any Thunderbird profile"
            raise ConfigError(f"no mail folders in {where}")
        return provider

    @property
    def source(self) -> str:
        return self._url

    def _listing(self) -> list[tuple[FolderInfo, int, str]]:
        """(folder as shown, member index, the member's own folder name) of every folder."""
        if self._folders is None:
            listing = []
            for index, member in enumerate(self.members):
                for inner in member.provider.folders():
                    name = f"{member.prefix}/{inner.name}"
                    shown = FolderInfo(name, f"{index}\0{inner.name}", inner.role)
                    listing.append((shown, index, inner.name))
            self._folders = listing
        return self._folders

    def folders(self) -> list[FolderInfo]:
        """Every folder of every account, named as Thunderbird shows it."""
        return [shown for shown, _, _ in self._listing()]

    def _chosen(self, query: Query) -> dict[int, list[str]]:
        """Member index -> the member's folder names this query searches."""
        picked = resolve(self.folders(), [self.scope, query.scope], self.source)
        where = {shown.key: (index, inner) for shown, index, inner in self._listing()}
        chosen: dict[int, list[str]] = {}
        for folder in picked:
            index, inner = where[folder.key]
            chosen.setdefault(index, []).append(inner)
        return chosen

    def sync_cursor(self) -> str:
        """Every account store's own cursor, by store."""
        cursors = {m.key: m.provider.sync_cursor() for m in self.members}
        return CURSOR_PREFIX + json.dumps(cursors, sort_keys=True, separators=(",", ":"))

    def search(self, query: Query) -> Iterator[Candidate]:
        self._folders = None  # listed afresh: a folder created since an earlier search counts
        for member in self.members:
            member.provider._folders = None
        old = parse_json_cursor(query.after_cursor, CURSOR_PREFIX)
        streams = []
        for index, names in self._chosen(query).items():
            member = self.members[index]
            after = old.get(member.key) if old is not None else None
            sub = replace(query, after_cursor=after, folders=tuple(names), exclude_folders=())
            streams.append(IteratorStream(self._tagged(member.provider.search(sub), index)))
        yield from merge_newest(streams)

    def _tagged(self, candidates: Iterator[Candidate], index: int) -> Iterator[Candidate]:
        prefix = self.members[index].prefix
        for candidate in candidates:
            role: FolderRole | None = candidate.folder_role
            if expunged(candidate.headers):
                role = "deleted"
            folder = f"{prefix}/{candidate.folder}" if candidate.folder else prefix
            ref = f"{index}\0{candidate.ref}"
            yield replace(candidate, ref=ref, folder=folder, folder_role=role)

    def fetch(self, candidate: Candidate) -> bytes:
        index, sep, inner = candidate.ref.partition("\0")
        if not sep or not index.isdigit() or int(index) >= len(self.members):
            raise MailboxError(f"not a message reference of {self._url}: {candidate.ref!r}")
        return self.members[int(index)].provider.fetch(replace(candidate, ref=inner))

    def close(self) -> None:
        for member in self.members:
            member.provider.close()


def members_of(profiles: list[tuple[str, Path]], url: str) -> list[Member]:
    """One member per account store of the given (name prefix, profile directory) pairs."""
    members: list[Member] = []
    for prefix, path in profiles:
        for account in accounts(path):
            store: MboxTreeProvider | SbdMaildir
            if account.kind == "maildir":
                store = SbdMaildir(account.path, url)
            else:
                store = MboxTreeProvider(account.path, url)
            members.append(Member(prefix + account.name, store))
    return members
