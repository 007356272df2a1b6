"""What the local providers share: header reads, receive times, the newest-first merge.

Receive time is the Date header, then the newest Received header, then the file's own time
(the mbox ``From_`` line, the Maildir delivery time in the file name, the file's mtime).

Messages are visited newest *delivery* first (Maildir names and .eml files sorted by delivery
time, an mbox read backwards from its end: see ``mbox.py``) and only their header blocks are
read. A Date header is trusted up to ``DATE_SKEW`` after delivery (later is a sender's broken
clock: the delivery time is used), so no message can have a receive time above its delivery
time + ``DATE_SKEW``. Each visited entry carries a *frontier* (``Entry.frontier``): a bound on
the delivery time of itself and of every entry not visited yet (for sorted entries, its own
delivery time). Once frontier + ``DATE_SKEW`` is at or below a buffered candidate, no unread
message can be newer and the candidate is yielded. A lookup therefore stops early, near the end
of a large mailbox, while still yielding strictly newest first by receive time.

``search`` also checks what it yields: a candidate newer than one already yielded (possible
only if a provider's frontier was wrong, see ``mbox.py``) raises MailboxError instead of being
returned out of order.

The providers themselves live in ``maildir.py``, ``eml.py`` and ``mbox.py``.
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

from inbox_finder.boundary.provider import Provider, Query, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.mail.headers import (
    HEADER_END,
    MAX_HEADER_BYTES,
    from_header_mentions,
    header_block,
)
from inbox_finder.mail.parse import parse_headers
from inbox_finder.model import Candidate, FolderRole, ReceivedSource

DATE_SKEW = timedelta(days=1)
HEAD_READ = 16384  # enough for nearly every header block; longer ones are read again
DELIVERY = re.compile(r"^(\d{9,11})[._]")


def receive_time(block: bytes, delivered: datetime) -> tuple[datetime, ReceivedSource]:
    """Date header, then the newest Received header, then the delivery/file time.

    A header time more than DATE_SKEW after delivery is not believed (broken sender clock).
    """
    headers = parse_headers(block)
    limit = delivered + DATE_SKEW
    if headers.date is not None and headers.date <= limit:
        return headers.date, "date-header"
    received = [d for d in headers.received_dates if d <= limit]
    if headers.date is None and received:
        return max(received), "received-header"
    return delivered, "file-time"


def mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def local_path(url: str, expected_scheme: str) -> Path:
    scheme, rest = split_scheme(url)
    if scheme != expected_scheme:
        raise ConfigError(f"not a {expected_scheme}: source: {url!r}")
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest:
        raise ConfigError(f"{expected_scheme}: source needs a path, e.g. {expected_scheme}:~/Mail")
    return Path(rest).expanduser()


@dataclass(frozen=True)
class Entry:
    """One message in delivery order: its ref, delivery time and a lazy header reader.

    ``frontier`` bounds the delivery time of this entry and of every entry after it; None means
    ``delivered`` (the entries come sorted newest delivery first).
    """

    ref: str
    delivered: datetime
    head: Callable[[], bytes]
    frontier: datetime | None = None
    folder: str | None = None
    folder_role: FolderRole | None = None


class LocalProvider(Provider):
    """Shared logic: visit newest delivery first, narrow by From, yield by receive time."""

    scheme = ""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self._url = url

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        path = local_path(url, cls.scheme)
        cls._check_path(path)
        return cls(path, url)

    @classmethod
    def _check_path(cls, path: Path) -> None:
        if not path.exists():
            raise ConfigError(f"{cls.kind} not found: {path}")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{cls.kind} is not readable: {path}")

    @property
    def source(self) -> str:
        return self._url

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        """Messages newest delivery first: non-increasing ``delivered``, or ``frontier`` set."""
        raise NotImplementedError

    def _dir_cursor(self, *dirs: Path) -> str:
        # Adding, removing or renaming a file updates its folder's mtime.
        stamps = [str(d.stat().st_mtime_ns) if d.is_dir() else "-" for d in dirs]
        return f"{self.scheme}:" + ":".join(stamps)

    def search(self, query: Query) -> Iterator[Candidate]:
        yield from self._merged_search(query, self._entries(query.after_cursor))

    def _merged_search(self, query: Query, entries: Iterator[Entry]) -> Iterator[Candidate]:
        heap: list[tuple[float, int, Candidate]] = []
        last: Candidate | None = None  # the candidate yielded last
        for seq, entry in enumerate(entries):
            # No unread message can have a receive time above this bound.
            frontier = entry.delivered if entry.frontier is None else entry.frontier
            bound = frontier + DATE_SKEW
            while heap and -heap[0][0] >= bound.timestamp():
                last = self._check_order(heapq.heappop(heap)[2], last)
                yield last
            if query.since is not None and bound < query.since:
                break  # everything still unread is older than --since
            block = entry.head()
            if not from_header_mentions(block, query.sender_domains):
                continue
            received, how = receive_time(block, entry.delivered)
            if query.since is not None and received < query.since:
                continue
            candidate = Candidate(
                entry.ref, received, how, block, folder=entry.folder, folder_role=entry.folder_role
            )
            heapq.heappush(heap, (-received.timestamp(), seq, candidate))
        while heap:
            last = self._check_order(heapq.heappop(heap)[2], last)
            yield last

    def _check_order(self, candidate: Candidate, last: Candidate | None) -> Candidate:
        """Refuse to yield out of order: only a wrong frontier (see mbox.py) can cause that."""
        if last is not None and candidate.received > last.received:
            raise MailboxError(
                f"{self.kind} {self.path} is not in delivery order: message {candidate.ref} "
                f"(received {candidate.received.isoformat()}) turned out newer than message "
                f"{last.ref} (received {last.received.isoformat()}), already returned"
            )
        return candidate

    def _read_file(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc

    def _head_reader(self, path: Path) -> Callable[[], bytes]:
        def read() -> bytes:
            try:
                with path.open("rb") as fh:
                    data = fh.read(HEAD_READ)
                    if HEADER_END.search(data) is None and len(data) == HEAD_READ:
                        data += fh.read(MAX_HEADER_BYTES - HEAD_READ)
                    return header_block(data)
            except OSError as exc:
                raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc

        return read
