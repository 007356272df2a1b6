"""``applemail:[DIR]``: Apple Mail's store, every mailbox in it, read-only.

Without DIR the store is ``~/Library/Mail`` (HOME from the environment); a DIR holding
version folders (``V8``, ``V10``) is searched in its newest one only, the one Mail uses (a
migration leaves the older ones behind, holding copies). DIR may also be one version
folder, one account or one ``.mbox`` mailbox. Folder names come from the ``.mbox``
directories (see store.py). Works on any platform: a copied store can be searched on Linux.

Scans (``scan``, ``watch``) skip a mailbox whose ``Messages`` directories kept their mtimes.

Receive time: the plist's ``date-received`` (what Mail recorded when the message arrived)
when it has one, else the local-store rule on Date and Received bounded by the file's mtime
(providers/local/_base.py). A message Mail flagged deleted but has not yet erased counts,
as on IMAP, and is marked as trash (a ``Note:`` says the mail was deleted). Only regular
files inside DIR are opened (walk.py): symlinks out of the store and FIFOs are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from inbox_finder.boundary.folders import FolderInfo, FolderScope, resolve, role_from_name
from inbox_finder.boundary.provider import Query, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError, MessageVanishedError
from inbox_finder.model import Candidate, ReceivedSource

from ..local._base import FILE_TIME, Entry, LocalProvider, receive_time
from ..local._base import local_path as _local_path
from ..local.stamps import make_cursor, mtime_ns, parse_cursor
from ..local.walk import Tree
from . import emlx
from .store import MESSAGE_FILE, folder_names, mailboxes, message_dirs, newest_version

CURSOR_PREFIX = "applemail1:"


def default_store(env: dict[str, str] | None = None) -> Path:
    """``~/Library/Mail`` of the running user (HOME from the environment)."""
    home = (env if env is not None else os.environ).get("HOME") or str(Path.home())
    return Path(home) / "Library" / "Mail"


class AppleMailProvider(LocalProvider):
    """An Apple Mail store: every ``.mbox`` mailbox's ``.emlx`` and ``.partial.emlx`` files."""

    scheme = "applemail"
    kind = "Apple Mail store"

    def __init__(self, path: Path, url: str, scope: FolderScope | None = None) -> None:
        super().__init__(path, url)
        self.scope = scope or FolderScope()
        self._tree = Tree(path)
        self._folders: list[FolderInfo] | None = None

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        _, rest = split_scheme(url)
        path = default_store() if rest in ("", "//") else _local_path(url, cls.scheme)
        cls._check_path(path)
        if not path.is_dir():
            raise ConfigError(f"not an Apple Mail store (not a directory): {path}")
        provider = cls(newest_version(path), url, options.scope)
        provider.folders()  # "no mailboxes here" is a usage error before any search
        return provider

    def folders(self) -> list[FolderInfo]:
        """Every mailbox of the store (listed once per provider)."""
        if self._folders is None:
            boxes = mailboxes(self._tree)
            if not boxes:
                raise ConfigError(f"not an Apple Mail store (no .mbox folders in it): {self.path}")
            self._folders = [
                FolderInfo(name, str(box.path.relative_to(self.path)), role_from_name(name))
                for name, box in zip(folder_names(boxes), boxes, strict=True)
            ]
        return self._folders

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        raise NotImplementedError  # search() lists the searched folders itself

    def _searched(self, query: Query) -> list[FolderInfo]:
        return resolve(self.folders(), [self.scope, query.scope], self.source)

    def sync_cursor(self) -> str:
        """Each searched mailbox's ``Messages`` directories and their mtimes (stamps.py)."""
        stamps = {f.name: self._stamp(f, for_cursor=True) for f in self._searched(Query())}
        return make_cursor(CURSOR_PREFIX, stamps)

    def _stamp(self, folder: FolderInfo, *, for_cursor: bool = False) -> list[list[object]]:
        # Mail adds a message by writing a file into a Messages directory (a new one when a
        # Data/<d>/<d> level fills up): either changes this list.
        return [
            [str(d.relative_to(self.path)), mtime_ns(d, for_cursor=for_cursor)]
            for d in message_dirs(self._tree, self._base(folder))
        ]

    def _base(self, folder: FolderInfo) -> Path:
        return self.path / folder.key if folder.key not in ("", ".") else self.path

    def search(self, query: Query) -> Iterator[Candidate]:
        """Candidates of every searched mailbox, newest first across all of them."""
        self._folders = None  # listed afresh: a mailbox created since an earlier search counts
        folders = self._searched(query)
        old = parse_cursor(query.after_cursor, CURSOR_PREFIX, CURSOR_PREFIX, "INBOX")
        if old is not None:  # a mailbox whose Messages directories did not change: no new mail
            folders = [f for f in folders if old.get(f.name) != self._stamp(f)]
        return self._merged_search(query, self._listed(folders))

    def _listed(self, folders: list[FolderInfo]) -> Iterator[Entry]:
        # Every entry carries its receive time (read from the plist, or from the headers when
        # the plist has none), so one sort by it gives the exact newest-first order.
        entries: list[Entry] = []
        for folder in folders:
            for messages in message_dirs(self._tree, self._base(folder)):
                for file in self._tree.files(messages):
                    if MESSAGE_FILE.fullmatch(file.name):
                        entry = self._entry(Path(file.path), folder)
                        if entry is not None:
                            entries.append(entry)
        entries.sort(key=lambda e: (e.delivered, e.ref), reverse=True)
        return iter(entries)

    def _entry(self, path: Path, folder: FolderInfo) -> Entry | None:
        fd = self._tree.open(path)
        if fd is None:
            return None  # gone, or not a regular file inside the store
        try:
            meta = emlx.read_meta(fd, str(path))
            if meta is None:
                return None  # not an .emlx (no byte count on the first line)
            received: tuple[datetime, ReceivedSource]
            if meta.received is not None:
                received = (meta.received, "delivery-time")
            else:
                mtime = datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC)
                head = emlx.read_head(fd, (meta.start, meta.length), str(path))
                received = receive_time(head, mtime, FILE_TIME)
        finally:
            os.close(fd)
        ref = str(path.relative_to(self.path))
        role = "trash" if meta.deleted else folder.role
        return Entry(
            ref, received[0], self._head(ref), received=received, folder=folder.name,
            folder_role=role,
        )  # fmt: skip

    def _read(self, ref: str, whole: bool) -> bytes | None:
        path = self.path / ref
        fd = self._tree.open(path)
        if fd is None:
            return None
        try:
            layout = emlx.read_layout(fd, str(path))
            if layout is None:
                return None
            read = emlx.read_message if whole else emlx.read_head
            return read(fd, layout, str(path))
        finally:
            os.close(fd)

    def _head(self, ref: str) -> Callable[[], bytes]:
        def read() -> bytes:
            block = self._read(ref, whole=False)
            return b"" if block is None else block  # gone meanwhile: no candidate

        return read

    def fetch(self, candidate: Candidate) -> bytes:
        raw = self._read(candidate.ref, whole=True)
        if raw is None:
            raise MessageVanishedError(f"{candidate.ref} is gone from {self.path}")
        return raw
