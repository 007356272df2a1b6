"""``eml:DIR``: a folder tree of ``.eml`` files, one message each, opened read-only.

Every ``*.eml`` file in DIR and its subdirectories is a message (hidden files and directories
are skipped); its folder is the directory relative to DIR (None at the top, ``.`` when
restricting to it). Only regular files are opened, symlinks only to files inside DIR (see
walk.py); a file that vanishes between listing and reading is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Self

from inbox_finder.boundary.folders import FolderInfo, FolderScope, resolve, role_from_name
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.errors import ConfigError, MessageVanishedError
from inbox_finder.model import Candidate, FolderRole

from ._base import Entry, LocalProvider, local_path
from .stamps import make_cursor, mtime_ns, parse_cursor
from .walk import MAX_DEPTH, Tree

TOP = "."  # the name DIR itself answers to in --folder
CURSOR_PREFIX = "eml2:"
# A listed message file: mtime, reference, folder name (None for DIR itself) and role.
Listed = tuple[float, str, str | None, FolderRole | None]


class EmlDirProvider(LocalProvider):
    """A folder tree of ``.eml`` files (one message each); file time is the mtime."""

    scheme = "eml"
    kind = "eml folder"
    #: Scan cursors: this provider's prefix, and the earlier single-folder form it reads.
    cursor_prefix: ClassVar[str] = CURSOR_PREFIX
    legacy_cursor: ClassVar[str | None] = "eml:"  # a subclass without an earlier form: None
    #: What the source must be, for the error when it is not a directory.
    directory_kind: ClassVar[str] = "a folder of .eml files"

    def __init__(self, path: Path, url: str, scope: FolderScope | None = None) -> None:
        super().__init__(path, url)
        self.scope = scope or FolderScope()
        self._tree = Tree(path)
        self._dirs: list[FolderInfo] | None = None

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        path = local_path(url, cls.scheme)
        cls._check_path(path)
        return cls(path, url, options.scope)

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not path.is_dir():
            raise ConfigError(f"{cls.scheme}: source must be {cls.directory_kind}: {path}")

    def folders(self) -> list[FolderInfo]:
        """DIR and every (non-hidden) directory below it."""
        if self._dirs is None:
            self._dirs = [FolderInfo(TOP, "")]
            self._dirs += [
                FolderInfo(rel, rel, role_from_name(rel)) for rel in self._walk(self.path, "", 0)
            ]
        return self._dirs

    def _walk(self, directory: Path, prefix: str, depth: int) -> Iterator[str]:
        if depth >= MAX_DEPTH:
            return
        for entry in self._tree.subdirs(directory):
            if entry.name.startswith("."):
                continue
            rel = f"{prefix}{entry.name}"
            yield rel
            yield from self._walk(Path(entry.path), rel + "/", depth + 1)

    def _searched(self, query: Query) -> list[FolderInfo]:
        return resolve(self.folders(), [self.scope, query.scope], self.source)

    def sync_cursor(self) -> str:
        """The mtime of every searched directory (adding or renaming a file changes it)."""
        stamps = {f.name: self._stamp(f, for_cursor=True) for f in self._searched(Query())}
        return make_cursor(CURSOR_PREFIX, stamps)

    def _stamp(self, folder: FolderInfo, *, for_cursor: bool = False) -> int:
        return mtime_ns(self.path / folder.key, for_cursor=for_cursor)

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        raise NotImplementedError  # search() lists the searched folders itself

    def search(self, query: Query) -> Iterator[Candidate]:
        """Candidates of every searched directory, newest first across all of them."""
        self._dirs = None  # listed afresh: a folder created since an earlier search counts
        folders = self._searched(query)
        old = parse_cursor(query.after_cursor, self.cursor_prefix, self.legacy_cursor, TOP)
        if old is not None:  # a directory whose mtime did not move gained no file
            folders = [f for f in folders if old.get(f.name) != self._stamp(f)]
        yield from self._merged_search(query, self._listed(folders))

    def _listed(self, folders: list[FolderInfo]) -> Iterator[Entry]:
        files: list[Listed] = []
        for folder in folders:
            prefix = f"{folder.key}/" if folder.key else ""
            name, role = (folder.key, role_from_name(folder.key)) if folder.key else (None, None)
            for entry in self._tree.files(self.path / folder.key):
                if not self.is_message(entry.name):
                    continue
                try:
                    when = entry.stat().st_mtime
                except OSError:
                    continue  # vanished since the listing
                files.append((when, prefix + entry.name, name, role))
        yield from self._newest_first(files)

    def _newest_first(self, files: list[Listed]) -> Iterator[Entry]:
        """An entry per listed file, newest mtime first (equal times by reference)."""
        files.sort(key=lambda item: (item[0], item[1]), reverse=True)
        for when, ref, folder, role in files:
            yield Entry(
                ref,
                datetime.fromtimestamp(when, UTC),
                self._head(ref),
                folder=folder,
                folder_role=role,
            )

    @staticmethod
    def is_message(name: str) -> bool:
        """True for the file names that hold one message each (``*.eml``)."""
        return name.lower().endswith(".eml")

    def _head(self, ref: str) -> Callable[[], bytes]:
        def read() -> bytes:
            block = self._tree.read_head(self.path / ref)
            return b"" if block is None else block  # gone, or nothing we open: no candidate

        return read

    def fetch(self, candidate: Candidate) -> bytes:
        raw = self._tree.read_all(self.path / candidate.ref)
        if raw is None:
            raise MessageVanishedError(f"{candidate.ref} is gone from {self.path}")
        return raw
