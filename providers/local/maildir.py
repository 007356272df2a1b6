"""``maildir:PATH``: a Maildir and every folder below it, read-only; nothing is moved.

The folders are the Maildir itself (``INBOX``), its Maildir++ subfolders (``.Name``,
``.Parent.Child``) and nested fs-layout folders (``Parent/Child/{cur,new,tmp}``), recursively
(see walk.py, which also keeps FIFOs, devices, dangling symlinks and symlinks out of the tree
from being opened). The ``new/`` and ``cur/`` files of every searched folder are merged into
one list sorted by the delivery time in their names, so the shared newest-first walk of
``LocalProvider.search`` stays exact across folders. A file that moves from ``new/`` to
``cur/`` (or changes flags) while we read is looked for under its new name; one that is gone
is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from inbox_finder.boundary.folders import FolderInfo, FolderScope, resolve, role_from_name
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.errors import ConfigError, MessageVanishedError
from inbox_finder.model import Candidate

from ._base import DELIVERY, DELIVERY_TIME, FILE_TIME, Entry, LocalProvider, local_path
from .stamps import make_cursor, mtime_ns, parse_cursor
from .walk import MAILDIR_SUBS, Tree, maildir_folders, moved_maildir_file

CURSOR_PREFIX = "maildir2:"


class MaildirProvider(LocalProvider):
    """A Maildir tree; file time is the delivery time in the name."""

    scheme = "maildir"
    kind = "Maildir"

    def __init__(self, path: Path, url: str, scope: FolderScope | None = None) -> None:
        super().__init__(path, url)
        self.scope = scope or FolderScope()
        self._tree = Tree(path)
        self._folders: list[FolderInfo] | None = None

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        path = local_path(url, cls.scheme)
        cls._check_path(path)
        provider = cls(path, url, options.scope)
        provider.folders()  # "not a Maildir" is a usage error before any search
        return provider

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not path.is_dir():
            raise ConfigError(f"not a Maildir (not a directory): {path}")

    def folders(self) -> list[FolderInfo]:
        """Every Maildir folder in the tree (listed once per provider)."""
        if self._folders is None:
            found = [
                FolderInfo(name, str(folder.relative_to(self.path)), role_from_name(name), alias)
                for name, folder, alias in maildir_folders(self._tree)
            ]
            if not found:
                raise ConfigError(f"not a Maildir (no cur/ or new/ in or below it): {self.path}")
            self._folders = found
        return self._folders

    def _searched(self, query: Query) -> list[FolderInfo]:
        return resolve(self.folders(), [self.scope, query.scope], self.source)

    def sync_cursor(self) -> str:
        """The mtimes of every searched folder's new/ and cur/ (see stamps.py)."""
        stamps = {f.name: self._stamp(f, for_cursor=True) for f in self._searched(Query())}
        return make_cursor(CURSOR_PREFIX, stamps)

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        raise NotImplementedError  # search() passes the query: see _folder_entries

    def search(self, query: Query) -> Iterator[Candidate]:
        """Candidates of every searched folder, newest first across all of them."""
        self._folders = None  # listed afresh: a folder created since an earlier search counts
        folders = self._searched(query)
        old = parse_cursor(query.after_cursor, CURSOR_PREFIX, "maildir:", "INBOX")
        if old is not None:
            # Folders whose new/ and cur/ did not change since the cursor hold no new mail.
            folders = [f for f in folders if old.get(f.name) != self._stamp(f)]
        entries = self._folder_entries(folders)
        return self._merged_search(query, entries)

    def _stamp(self, folder: FolderInfo, *, for_cursor: bool = False) -> list[int]:
        base = self.path / folder.key
        return [mtime_ns(base / sub, for_cursor=for_cursor) for sub in MAILDIR_SUBS]

    def _folder_entries(self, folders: list[FolderInfo]) -> Iterator[Entry]:
        # Sorting (epoch, ref) is ~3x cheaper than (datetime, ref), and datetimes are made only
        # for the entries visited (a lookup visits the newest few hundred).
        files: list[tuple[float, str, int]] = []
        add, match = files.append, DELIVERY.match
        for index, folder in enumerate(folders):
            prefix = "" if folder.key in ("", ".") else folder.key + "/"
            for sub in MAILDIR_SUBS:
                for entry in self._tree.files(self.path / prefix / sub):
                    m = match(entry.name)
                    # The name carries the delivery time; a stat is needed only for odd names (an
                    # int epoch marks a delivery time, a float mtime a copy time).
                    when = int(m[1]) if m else _entry_mtime(entry)
                    if when is not None:
                        add((when, f"{prefix}{sub}/{entry.name}", index))
        files.sort(reverse=True)
        for epoch, ref, index in files:
            folder = folders[index]
            yield Entry(
                ref,
                datetime.fromtimestamp(epoch, UTC),
                self._head(ref),
                DELIVERY_TIME if isinstance(epoch, int) else FILE_TIME,
                folder=folder.name,
                folder_role=folder.role,
            )

    def _locate(self, ref: str) -> Path | None:
        """The file behind ``ref`` now: where it was listed, or where the client moved it."""
        path = self.path / ref
        if os.path.lexists(path):
            return path
        folder, sub, name = path.parent.parent, path.parent.name, path.name
        return moved_maildir_file(folder, sub, name)

    def _head(self, ref: str) -> Callable[[], bytes]:
        def read() -> bytes:
            for _attempt in range(2):  # moved between the lookup and the open: look again
                path = self._locate(ref)
                block = self._tree.read_head(path) if path is not None else None
                if block is not None:
                    return block
            return b""  # gone, or nothing we open: no candidate

        return read

    def fetch(self, candidate: Candidate) -> bytes:
        raw = None
        for _attempt in range(2):  # moved between the lookup and the open: look again
            path = self._locate(candidate.ref)
            raw = self._tree.read_all(path) if path is not None else None
            if raw is not None:
                break
        if raw is None:
            raise MessageVanishedError(f"{candidate.ref} is gone from {self.path}")
        return raw


def _entry_mtime(entry: os.DirEntry[str]) -> float | None:
    try:
        return entry.stat().st_mtime
    except OSError:
        return None  # vanished since the listing
