"""``evolution:DIR``: the offline copies Evolution keeps of IMAP and Exchange (EWS) mail.

Evolution (evolution-data-server's Camel) caches every downloaded message of a remote account
as one file of a *data cache* (camel-data-cache.c): ``ACCOUNT/folders/FOLDER/cur/HH/KEY``,
where ACCOUNT is the account's opaque uid (its ESource uid), ``HH`` two hex digits of a hash
of KEY (``00`` to ``3f``), and KEY the IMAP UID (IMAPX) or the SHA-256 of the item id (EWS).
A nested IMAP folder ``INBOX/Salesforce`` is ``folders/INBOX/subfolders/Salesforce``; EWS
nests ``folders/Inbox/Salesforce`` directly. Beside the messages live state that is not mail
and is never opened: ``folders.db`` and ``.ev-store-summary`` (the account's summaries), each
folder's ``cmeta``; and downloads in progress, which must not be read: ``tmp/HH/UID`` (before
evolution-data-server 3.61.1) and ``cur/HH/KEY.XXXXXX`` (the atomic writes since), renamed to
``cur/HH/KEY`` once complete. ``new/`` holds messages appended offline, not yet uploaded (the
user's own drafts and copies, not received mail), and is not read either. Empty files are
skipped, as Camel itself treats them as missing.

DIR is one account's directory (it has ``folders/``), its folders named as Evolution shows
them (``INBOX``, ``INBOX/Salesforce``), or the whole cache, ``~/.cache/evolution/mail`` (what
``evolution:`` alone searches: the running user's ``$XDG_CACHE_HOME/evolution/mail``), each
folder then headed by its account's display name (accounts.py), else its uid
(``dana@example.com/INBOX``; ``UID/INBOX`` is accepted too). The files are read like eml
folders (walk.py: read-only, regular files only, no symlink out of DIR followed, no FIFO
opened). A file's mtime is when Evolution downloaded it, no delivery evidence: the receive
time is Date unless it is later than the mtime + 15 minutes (providers/local/_base.py).
The scan cursor holds the mtimes of each folder's ``cur/`` and hash directories (a message
added to ``cur/3f`` changes only that directory's mtime), keyed by the folder's path in DIR.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Self

from inbox_finder.boundary.discovery import Places, cache_home
from inbox_finder.boundary.folders import FolderInfo, role_from_name
from inbox_finder.boundary.provider import Query, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError
from inbox_finder.model import Candidate

from ..local._base import Entry, local_path
from ..local.eml import EmlDirProvider, Listed
from ..local.stamps import make_cursor, mtime_ns, parse_cursor
from ..local.walk import MAX_DEPTH
from .accounts import account_labels

FOLDERS = "folders"
SUBFOLDERS = "subfolders"  # IMAPX: the children of folder A are in A/subfolders/
CACHE_DIRS = ("cur", "new", "tmp")  # data-cache paths inside a folder directory, not folders
HASH_DIRS = frozenset(f"{n:02x}" for n in range(256))  # 6 bits used today; accept any 2 hex


def cache_root(places: Places) -> Path:
    """``$XDG_CACHE_HOME/evolution/mail`` (default ``~/.cache/evolution/mail``)."""
    return cache_home(places) / "evolution" / "mail"


def _children(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def is_account(path: Path) -> bool:
    """True when ``path`` is an account's cache directory (it has a ``folders/`` directory)."""
    return (path / FOLDERS).is_dir() and not (path / FOLDERS).is_symlink()


class EvolutionProvider(EmlDirProvider):
    """Evolution's offline cache: one account directory, or every account under the cache."""

    scheme = "evolution"
    kind = "Evolution mail cache"
    cursor_prefix = "evolution1:"
    directory_kind = "a directory"
    legacy_cursor = None  # no earlier cursor form exists

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        _, rest = split_scheme(url)
        alone = rest in ("", "//")  # ``evolution:`` alone: the running user's whole cache
        path = cache_root(Places.current()) if alone else local_path(url, cls.scheme)
        cls._check_path(path)
        return cls(path, url, options.scope)

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not is_account(path) and not any(
            is_account(child) for child in _children(path) if not child.name.startswith(".")
        ):
            raise ConfigError(
                f"no Evolution mail cache in {path}: give an account directory (one with "
                "folders/) or the cache holding them, ~/.cache/evolution/mail"
            )

    def folders(self) -> list[FolderInfo]:
        """Every cached folder of the account (or of every account), as Evolution names it."""
        if self._dirs is None:
            self._dirs = list(self._accounts())
        return self._dirs

    def _accounts(self) -> Iterator[FolderInfo]:
        if is_account(self.path):
            yield from self._folders(self.path / FOLDERS, FOLDERS, "", 0)
            return
        found = [
            e
            for e in self._tree.subdirs(self.path)
            if not e.name.startswith(".") and is_account(Path(e.path))
        ]
        labels = account_labels((e.name for e in found), Places.current())
        for entry in found:
            label, key = labels[entry.name], f"{entry.name}/{FOLDERS}"
            for folder in self._folders(Path(entry.path) / FOLDERS, key, label + "/", 0):
                if label == entry.name:
                    yield folder
                else:  # the uid spelling is accepted too
                    by_uid = entry.name + folder.name[len(label) :]
                    yield replace(folder, aliases=(*folder.aliases, by_uid))

    def _folders(self, directory: Path, key: str, prefix: str, depth: int) -> Iterator[FolderInfo]:
        """The folders whose directories are in ``directory`` (``key``: it, relative to DIR)."""
        if depth >= MAX_DEPTH:
            return
        for entry in self._tree.subdirs(directory):
            if entry.name.startswith(".") or entry.name in CACHE_DIRS:
                continue
            if entry.name == SUBFOLDERS and depth > 0:
                continue  # walked as the children of the folder that holds it
            name, sub = f"{prefix}{entry.name}", f"{key}/{entry.name}"
            yield FolderInfo(name, sub, role_from_name(name))
            path = Path(entry.path)
            yield from self._folders(path, sub, name + "/", depth + 1)  # EWS nesting
            if (path / SUBFOLDERS).is_dir():
                children = f"{sub}/{SUBFOLDERS}"
                yield from self._folders(path / SUBFOLDERS, children, name + "/", depth + 1)

    def _hash_dirs(self, folder: FolderInfo) -> list[Path]:
        cur = self.path / folder.key / "cur"
        return [Path(e.path) for e in self._tree.subdirs(cur) if e.name in HASH_DIRS]

    def _stamps(self, folder: FolderInfo, *, for_cursor: bool = False) -> list[int]:
        """The mtimes of the folder's ``cur/`` (a new hash directory) and hash directories."""
        cur = self.path / folder.key / "cur"
        dirs = [cur, *self._hash_dirs(folder)]
        return [mtime_ns(d, for_cursor=for_cursor) for d in dirs]

    def sync_cursor(self) -> str:
        """The mtimes of every searched folder's cache directories, keyed by cache path."""
        stamps = {f.key: self._stamps(f, for_cursor=True) for f in self._searched(Query())}
        return make_cursor(self.cursor_prefix, stamps)

    def search(self, query: Query) -> Iterator[Candidate]:
        """Candidates of every searched folder, newest first across all of them."""
        self._dirs = None  # listed afresh: a folder cached since an earlier search counts
        folders = self._searched(query)
        old = parse_cursor(query.after_cursor, self.cursor_prefix, self.legacy_cursor, "")
        if old is not None:  # no directory of the folder changed: no message was added
            folders = [f for f in folders if old.get(f.key) != self._stamps(f)]
        yield from self._merged_search(query, self._listed(folders))

    def _listed(self, folders: list[FolderInfo]) -> Iterator[Entry]:
        files: list[Listed] = []
        for folder in folders:
            for directory in self._hash_dirs(folder):
                for entry in self._tree.files(directory):
                    if not self.is_message(entry.name):
                        continue
                    try:
                        st = entry.stat()
                    except OSError:
                        continue  # vanished since the listing
                    if st.st_size:  # an empty cache file is no message (Camel's rule too)
                        ref = f"{folder.key}/cur/{directory.name}/{entry.name}"
                        files.append((st.st_mtime, ref, folder.name, folder.role))
        yield from self._newest_first(files)

    @staticmethod
    def is_message(name: str) -> bool:
        """A complete cache file: no ``.`` (an atomic write in progress is ``KEY.XXXXXX``)."""
        return bool(name) and "." not in name
