"""``mbox:PATH``: one mbox file, looked up through a header index; exact for any message order.

Not every mbox is in delivery order (imports, concatenated archives, Google Takeout exports,
mail saved into a folder later), and no bound on the times of the messages not read yet can
be known without reading them. So every lookup rests on a full index of the candidates (the
messages whose From mentions a sender domain) with their exact receive times, see
``mbox_index.py``. Its one sequential pass is the cost of the first lookup on a file; the
index is cached (``mbox_cache.py``), so a second lookup on an unchanged file reads only the
header blocks of the candidates it returns, and after an append only the new end is indexed.

The candidates are handed to ``LocalProvider.search`` newest receive time first, each with its
receive time, so the engine's early stop ends the lookup after the first few. Before a
candidate is handed out, its offsets are checked against the file (a ``From_`` line must end
right where its message starts): a cached index that turns out wrong is rebuilt, and
``search`` still refuses to yield anything out of order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from inbox_finder.boundary.provider import Query
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.model import Candidate

from . import mbox_cache
from ._base import Entry, LocalProvider, mtime
from .mbox_index import MboxIndex, head_block

log = logging.getLogger(__name__)


def _given(block: bytes) -> Callable[[], bytes]:
    return lambda: block


class MboxProvider(LocalProvider):
    """An mbox file, read through its (cached) header index; the file is only read."""

    scheme = "mbox"
    kind = "mbox file"

    def __init__(self, path: Path, url: str) -> None:
        super().__init__(path, url)
        self._fh: BinaryIO | None = None

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not path.is_file():
            raise ConfigError(f"mbox: source must be a file: {path}")

    def _file(self) -> BinaryIO:
        if self._fh is None:
            try:
                self._fh = self.path.open("rb")
            except OSError as exc:
                raise ConfigError(f"cannot open mbox file {self.path}: {exc.strerror}") from exc
            start = self._fh.read(5)
            if start not in (b"", b"From "):
                raise ConfigError(f"not an mbox file (no 'From ' line at the start): {self.path}")
        return self._fh

    def _pread(self, offset: int, size: int) -> bytes:
        """Every read of the mailbox goes through here."""
        try:
            return os.pread(self._file().fileno(), size, offset)
        except OSError as exc:
            raise MailboxError(f"cannot read {self.path}: {exc.strerror}") from exc

    def _fstat(self) -> os.stat_result:
        return os.fstat(self._file().fileno())

    def sync_cursor(self) -> str:
        st = self.path.stat()
        return f"mbox:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"

    def _resume_offset(self, after_cursor: str | None, size: int) -> int:
        """Where new mail starts: the old size if the same file only grew, else 0."""
        parts = (after_cursor or "").split(":")
        if len(parts) != 4 or parts[0] != "mbox" or not parts[2].isdigit():
            return 0
        old_size = int(parts[2])
        same = str(self._fstat().st_ino) == parts[1]
        return old_size if same and size >= old_size else 0

    def _index(self, domains: tuple[str, ...], *, trust_cache: bool = True) -> MboxIndex:
        # Without a From_ date only the file's mtime bounds the first message's delivery time.
        return mbox_cache.current(
            self._pread, self._fstat, mtime(self.path), domains, trust_cache=trust_cache
        )

    def _query_entries(self, query: Query) -> Iterator[Entry]:
        """The candidates of the region after the cursor, newest receive time first."""
        lo = self._resume_offset(query.after_cursor, self._fstat().st_size)
        handed: set[str] = set()
        index = self._index(query.sender_domains)
        if (yield from self._hand_out(index, lo, handed)):
            return
        log.info("%s: the mbox index does not match the file; indexing it again", self.path)
        index = self._index(query.sender_domains, trust_cache=False)
        if not (yield from self._hand_out(index, lo, handed)):
            raise MailboxError(f"mbox file {self.path} changed while it was read; try again")

    def _hand_out(
        self, index: MboxIndex, lo: int, handed: set[str]
    ) -> Generator[Entry, None, bool]:
        """Entries not ``handed`` out yet, newest first; returns False at an offset mismatch."""
        for k in index.newest_first(lo):
            line, body, end, received, source = index.row(k)
            ref = f"{body}:{end}"
            if ref in handed:
                continue
            block = self._verified_head(line, body, end)
            if block is None:
                return False
            handed.add(ref)
            yield Entry(ref, received, _given(block), received=(received, source))
        return True

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        return self._query_entries(Query(after_cursor=after_cursor))

    def _verified_head(self, line: int, body: int, end: int) -> bytes | None:
        """The header block at ``body``, if a From_ line at ``line`` ends right before it."""
        from_line = self._pread(line, body - line)
        if not from_line.startswith(b"From ") or not from_line.endswith(b"\n"):
            return None
        if b"\n" in from_line[:-1]:
            return None
        return head_block(self._pread, body, end)

    def fetch(self, candidate: Candidate) -> bytes:
        start, _, end = candidate.ref.partition(":")
        return self._pread(int(start), int(end) - int(start))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
