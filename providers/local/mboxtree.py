"""``mbox:PATH``: one mbox file, or every mbox file below a directory.

``mbox:FILE`` is that one file (see mbox.py; its findings carry no folder). ``mbox:DIR``
reads every mbox file below DIR — a regular file starting with ``From `` (Thunderbird's
``.msf`` indexes and other files are not), hidden files and directories skipped, symlinks only
to files inside DIR. A file's folder is its path relative to DIR, Thunderbird's ``.sbd``
directory suffix dropped (``Archives.sbd/2026`` is ``Archives/2026``). The files' newest-first
candidate streams are merged by receive time (each file still read backwards and lazily).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Self

from inbox_finder.boundary.folders import (
    FolderInfo,
    FolderScope,
    IteratorStream,
    merge_newest,
    resolve,
    role_from_name,
)
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.model import Candidate

from ._base import local_path
from .mbox import MboxProvider
from .stamps import parse_json_cursor
from .walk import MAX_DEPTH, Tree

CURSOR_PREFIX = "mboxdir:"
log = logging.getLogger(__name__)


class MboxTreeProvider(Provider):
    """An mbox file, or the mbox files of a directory tree merged newest first."""

    kind = "mbox file"

    def __init__(self, path: Path, url: str, scope: FolderScope | None = None) -> None:
        self.path = path
        self._url = url
        self.scope = scope or FolderScope()
        self._single = path.is_file()
        self._tree = Tree(path)
        self._open: dict[str, MboxProvider] = {}
        self._folders: list[FolderInfo] | None = None

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        path = local_path(url, "mbox")
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # e.g. a name too long for the file system
            raise ConfigError(f"mbox path unusable: {exc.strerror}") from None
        if is_dir:
            provider = cls(path, url, options.scope)
            if not provider.folders():
                raise ConfigError(f"no mbox files (starting with 'From ') in or below {path}")
            return provider
        MboxProvider._check_path(path)
        if options.scope.include or options.scope.exclude:
            raise ConfigError(f"mbox:{path} is one file, so it has no folders to choose from")
        return cls(path, url)

    @property
    def source(self) -> str:
        return self._url

    def folders(self) -> list[FolderInfo]:
        """Every mbox file below the directory (empty for a single file)."""
        if self._folders is None:
            self._folders = [] if self._single else list(self._walk(self.path, "", "", 0))
        return self._folders

    def _walk(self, directory: Path, prefix: str, key: str, depth: int) -> Iterator[FolderInfo]:
        for entry in self._tree.files(directory):
            if self._is_mbox(Path(entry.path)):
                name = prefix + entry.name
                leaf = entry.name.removesuffix(".mbox").removesuffix(".mbx")
                yield FolderInfo(name, key + entry.name, role_from_name(leaf), (prefix + leaf,))
        if depth + 1 >= MAX_DEPTH:
            return
        for entry in self._tree.subdirs(directory):
            if not entry.name.startswith("."):
                shown = entry.name.removesuffix(".sbd")
                yield from self._walk(
                    Path(entry.path), f"{prefix}{shown}/", f"{key}{entry.name}/", depth + 1
                )

    def _is_mbox(self, path: Path) -> bool:
        try:
            fd = self._tree.open(path)
        except MailboxError as exc:  # e.g. no permission: the rest of the tree still counts
            log.warning("skipping %s", exc)
            return False
        if fd is None:
            return False
        with open(fd, "rb") as fh:
            return fh.read(5) == b"From "

    def _member(self, folder: FolderInfo | None) -> MboxProvider:
        key = "" if folder is None else folder.key
        if key not in self._open:
            path = self.path if folder is None else self.path / folder.key
            self._open[key] = MboxProvider(path, self._url)
        return self._open[key]

    def _searched(self, query: Query) -> list[FolderInfo]:
        if self._single:
            if query.scope.include or query.scope.exclude:
                raise ConfigError(f"{self._url} is one mbox file: it has no folders to choose from")
            return []
        return resolve(self.folders(), [self.scope, query.scope], self.source)

    def sync_cursor(self) -> str:
        """The single file's own cursor, or every searched file's cursor by folder."""
        if self._single:
            return self._member(None).sync_cursor()
        cursors = {f.name: self._member(f).sync_cursor() for f in self._searched(Query())}
        return CURSOR_PREFIX + json.dumps(cursors, sort_keys=True, separators=(",", ":"))

    def search(self, query: Query) -> Iterator[Candidate]:
        if self._single:
            yield from self._member(None).search(query)
            return
        self._folders = None  # listed afresh: a file created since an earlier search counts
        old = parse_json_cursor(query.after_cursor, CURSOR_PREFIX)
        streams = []
        for folder in self._searched(query):
            member = self._member(folder)
            after = old.get(folder.name) if old is not None else None
            if after is not None and after == member.sync_cursor():
                continue  # this file did not change since the cursor
            sub = replace(query, after_cursor=after, folders=(), exclude_folders=())
            streams.append(IteratorStream(self._tagged(member.search(sub), folder)))
        yield from merge_newest(streams)

    @staticmethod
    def _tagged(candidates: Iterator[Candidate], folder: FolderInfo) -> Iterator[Candidate]:
        for candidate in candidates:
            ref = f"{folder.key}\0{candidate.ref}"
            yield replace(candidate, ref=ref, folder=folder.name, folder_role=folder.role)

    def fetch(self, candidate: Candidate) -> bytes:
        if self._single:
            return self._member(None).fetch(candidate)
        key, sep, inner = candidate.ref.partition("\0")
        folder = next((f for f in self.folders() if f.key == key), None)
        if not sep or folder is None:
            raise MailboxError(f"not a message reference of {self._url}: {candidate.ref!r}")
        return self._member(folder).fetch(replace(candidate, ref=inner))

    def close(self) -> None:
        for member in self._open.values():
            member.close()
        self._open.clear()
