"""What the local providers share: header reads, receive times, the newest-first merge.

Receive time (``receive_time``): a local mailbox records when a message arrived (the mbox
``From_`` line, the Maildir file name, the topmost ``Received`` header, added by the receiving
server) and the sender writes a Date header. Date is used only while it agrees with that
delivery evidence within ``CLOCK_SKEW``; otherwise the delivery evidence is the receive time
and ``received_source`` says which one was used. A file's mtime (for an .eml file, when it was
copied) is no delivery evidence: there Date stays the best evidence, bounded by the mtime.

Messages are visited newest *delivery* first (Maildir names and .eml files sorted by delivery
time; an mbox sorted by its header index, see ``mbox_index.py``) and only their header blocks
are read. No message visited later can have a receive time above the current entry's delivery
time + ``CLOCK_SKEW`` (entries that carry their receive time, ``Entry.received``, come sorted
by it), so a candidate is yielded once it is at or above that bound and a lookup stops early,
near the newest mail, while still yielding strictly newest first by receive time.

``search`` also checks what it yields: a candidate newer than one already yielded (possible
only if a provider's order was wrong) raises MailboxError instead of being returned out of order.

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
from typing import Literal, Self

from inbox_finder.boundary.provider import Provider, Query, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.mail.headers import (
    HEADER_END,
    MAX_HEADER_BYTES,
    from_header_mentions,
    header_block,
)
from inbox_finder.mail.parse import parse_date
from inbox_finder.model import Candidate, FolderRole, ReceivedSource

# How far a sender's Date may differ from the delivery evidence and still be used. Clocks
# without NTP drift by minutes; a wrong time zone or a missed DST switch is off by whole hours
# or half hours (rarely 15 min), and a Date that far off is not believed.
CLOCK_SKEW = timedelta(minutes=15)
# A From_ line without an offset is a wall clock (often the delivering host's local time):
# the instant lies up to 14 h before (UTC+14) or 12 h after (UTC-12) it read as UTC.
ZONE_EAST = timedelta(hours=14)
ZONE_WEST = timedelta(hours=12)
HEAD_READ = 16384  # enough for nearly every header block; longer ones are read again
DELIVERY = re.compile(r"^(\d{9,11})[._]")
_FIELDS = re.compile(
    rb"^(date|received)[ \t]*:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class Evidence:
    """What a mailbox's own time for a message is: its reported name and how far it binds.

    ``instant``: recorded at delivery (Maildir name, From_ line with an offset);
    ``wall-clock``: recorded at delivery in an unknown zone (From_ line without an offset, read
    as UTC); ``copy-time``: when the file was written (mtime), only an upper bound.
    """

    source: ReceivedSource
    kind: Literal["instant", "wall-clock", "copy-time"]


DELIVERY_TIME = Evidence("delivery-time", "instant")
FROM_LINE = Evidence("from-line", "instant")
FROM_LINE_NO_ZONE = Evidence("from-line", "wall-clock")
FILE_TIME = Evidence("file-time", "copy-time")


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _shift(when: datetime, delta: timedelta) -> datetime:
    """``when + delta``, clamped to the datetime range (a From_ line may say year 9999)."""
    try:
        return when + delta
    except OverflowError:
        return _LATEST if delta > timedelta(0) else _EARLIEST


def _date_and_top_received(block: bytes) -> tuple[datetime | None, datetime | None]:
    """The first Date field and the time of the topmost Received field (None: absent/bogus).

    Only the topmost Received counts: the receiving server adds it; anything below it could
    have been written by the sender.
    """
    date: datetime | None = None
    top: datetime | None = None
    seen_date = seen_received = False
    for m in _FIELDS.finditer(block):
        value = " ".join(m.group(2).decode("ascii", "replace").split())
        if m.group(1).lower() == b"date":
            if not seen_date:
                seen_date, date = True, parse_date(value)
        elif not seen_received:
            seen_received, top = True, parse_date(value.rpartition(";")[2])
        if seen_date and seen_received:
            break
    return date, top


def receive_time(
    block: bytes, delivered: datetime, evidence: Evidence = FILE_TIME
) -> tuple[datetime, ReceivedSource]:
    """Date unless it is more than CLOCK_SKEW after the delivery evidence, else that evidence.

    The delivery evidence is ``delivered`` when it is an instant; else the topmost Received
    time when it fits ``delivered``; else a wall-clock ``delivered`` itself. A copy time has
    none: Date is used unless it is later than the copy (then Received, then the file time).
    Nothing later than ``delivered`` + CLOCK_SKEW (+ ZONE_WEST for a wall clock) is returned.
    """
    date, top = _date_and_top_received(block)
    wall = evidence.kind == "wall-clock"
    latest = _shift(delivered, CLOCK_SKEW + (ZONE_WEST if wall else timedelta(0)))
    earliest = _shift(delivered, -CLOCK_SKEW - ZONE_EAST) if wall else _EARLIEST
    if date is not None and date > latest:
        date = None  # after the delivery: a broken or lying sender clock
    if top is not None and not earliest <= top <= latest:
        top = None  # does not fit the mailbox's own record
    best: tuple[datetime, ReceivedSource] | None = None
    if evidence.kind == "instant":
        best = (delivered, evidence.source)
    elif top is not None:
        best = (top, "received-header")
    elif wall:
        best = (delivered, evidence.source)
    if best is None:
        return (date, "date-header") if date is not None else (delivered, evidence.source)
    # A Date later than the delivery is a broken or lying sender clock (a spoof dated ahead to
    # outrank a newer token mail). An earlier one is believed: mail synced or downloaded into
    # a local store (mbsync, offlineimap, a desktop client's mbox) carries the copy's time as
    # its "delivery", which would make every such mail equally new.
    if date is not None and date <= _shift(best[0], CLOCK_SKEW):
        return date, "date-header"
    return best


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
    if "\0" in rest:
        raise ConfigError(f"{expected_scheme}: path contains a NUL character")
    try:
        return Path(rest).expanduser()
    except RuntimeError:  # ~name of a user that does not exist (or no home directory)
        user = rest.split("/", 1)[0]
        raise ConfigError(f"{expected_scheme}: cannot expand {user}: no such user's home") from None


@dataclass(frozen=True)
class Entry:
    """One message: its ref, the mailbox's own time for it and a lazy header reader.

    Entries come newest ``delivered`` first, with ``evidence`` an instant or a copy time (so
    no later entry's receive time is above ``delivered`` + CLOCK_SKEW), or with ``received``
    set (already known, e.g. from the mbox index) and sorted newest ``received`` first.
    """

    ref: str
    delivered: datetime
    head: Callable[[], bytes]
    evidence: Evidence = FILE_TIME
    received: tuple[datetime, ReceivedSource] | None = None
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
        try:
            found = path.exists()
        except OSError as exc:  # e.g. a name too long for the file system
            raise ConfigError(f"{cls.kind} path unusable: {exc.strerror}") from None
        if not found:
            raise ConfigError(f"{cls.kind} not found: {path}")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{cls.kind} is not readable: {path}")

    @property
    def source(self) -> str:
        return self._url

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        """Messages newest first: by ``delivered``, or by ``received`` where that is set."""
        raise NotImplementedError

    def _query_entries(self, query: Query) -> Iterator[Entry]:
        """The entries for ``query``: ``_entries``, unless a provider narrows by the query."""
        return self._entries(query.after_cursor)

    def _dir_cursor(self, *dirs: Path) -> str:
        # Adding, removing or renaming a file updates its folder's mtime.
        stamps = [str(d.stat().st_mtime_ns) if d.is_dir() else "-" for d in dirs]
        return f"{self.scheme}:" + ":".join(stamps)

    def search(self, query: Query) -> Iterator[Candidate]:
        yield from self._merged_search(query, self._query_entries(query))

    def _merged_search(self, query: Query, entries: Iterator[Entry]) -> Iterator[Candidate]:
        heap: list[tuple[float, int, Candidate]] = []
        last: Candidate | None = None  # the candidate yielded last
        for seq, entry in enumerate(entries):
            # No unread message can have a receive time above this bound.
            bound = entry.received[0] if entry.received else _shift(entry.delivered, CLOCK_SKEW)
            while heap and -heap[0][0] >= bound.timestamp():
                last = self._check_order(heapq.heappop(heap)[2], last)
                yield last
            if query.since is not None and bound < query.since:
                break  # everything still unread is older than --since
            block = entry.head()
            if not from_header_mentions(block, query.sender_domains):
                continue
            received, how = entry.received or receive_time(block, entry.delivered, entry.evidence)
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
        """Refuse to yield out of order (a mailbox changed while it was read, or a wrong order)."""
        if last is not None and candidate.received > last.received:
            raise MailboxError(
                f"{self.kind} {self.path} changed while it was read: message {candidate.ref} "
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
