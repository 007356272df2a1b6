"""The mbox header index: where every candidate message is and its receive time, in one pass.

One sequential pass in ``CHUNK`` reads finds every ``From_`` line (the messages), reads each
message's header block from the buffer already read, and keeps the messages whose From field
mentions one of the sender domains: their offsets and receive time (``receive_time`` on the
header block and the ``From_`` line). The order of the file does not matter: the index holds
the exact receive time of every candidate, so a lookup sorts them and is exact for any order.

The index holds no message text: offsets, times, the receive-time source, and the domains it
was built for (a lookup for other domains builds it again, for the union). ``mbox_cache.py``
keeps it across runs.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from inbox_finder.mail.headers import MAX_HEADER_BYTES, from_header_mentions
from inbox_finder.model import ReceivedSource

from ._base import FILE_TIME, FROM_LINE, FROM_LINE_NO_ZONE, HEAD_READ, receive_time

Read = Callable[[int, int], bytes]  # (offset, size) -> bytes, like os.pread

CHUNK = 1 << 20  # bytes per read
MAX_FROM_LINE = 64 << 10  # a longer "From " line is not a separator
FIELDS = 5  # per candidate: From_ line offset, body offset, end offset, receive time, source
SOURCES: tuple[ReceivedSource, ...] = ("date-header", "received-header", "from-line", "file-time")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

# A From_ line carries an asctime date; requiring it keeps body lines such as
# "From the desk of ..." (unescaped in mboxo files) from splitting a message.
# Also Google Takeout's "From 17…@xxx Sat Jan 01 00:00:00 +0000 2022".
_FROM_LINE = re.compile(
    rb"^From \S* +[A-Z][a-z]{2} +([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d)(?::(\d\d))?"
    rb"(?: ([+-]\d{4}))? (\d{4})"
)
_MONTHS = {
    m.encode(): i
    for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}


def from_line_time(line: bytes) -> tuple[datetime, bool] | None:
    """The delivery time on a From_ line (UTC unless it names an offset), and whether it does."""
    m = _FROM_LINE.match(line)
    if not m or m.group(1) not in _MONTHS:
        return None
    mon, day, hh, mm, ss, zone, year = m.groups()
    try:
        when = datetime(
            int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss or 0), tzinfo=UTC
        )
        if zone:  # "+0100": the wall clock is ahead of UTC by that much
            sign = 1 if zone[:1] == b"+" else -1
            when -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    except (ValueError, OverflowError):
        return None
    return when, zone is not None


def header_end(data: bytes, start: int = 0, stop: int | None = None) -> int:
    """Where the header block starting at ``start`` ends (after its blank line), or -1.

    The end of the first ``HEADER_END`` match (``\\r?\\n\\r?\\n``) in ``data[start:stop]``,
    found with two ``bytes.find`` (several times faster than the regular expression).
    """
    stop = len(data) if stop is None else stop
    lf = data.find(b"\n\n", start, stop)
    # Only a CRLF blank line before the first LF one matters: search no further than that.
    crlf = data.find(b"\n\r\n", start, stop if lf < 0 else lf + 2)
    if crlf >= 0:
        return crlf + 3
    return lf + 2 if lf >= 0 else -1


def head_block(read: Read, body: int, end: int) -> bytes:
    """The header block of the message in [body, end): what the provider hands to the engine."""
    data = read(body, min(end - body, HEAD_READ))
    cut = header_end(data)
    if cut < 0 and end - body > len(data):
        data = read(body, min(end - body, MAX_HEADER_BYTES))
        cut = header_end(data)
    return data[:cut] if cut >= 0 else data


def _mentions(head: bytes, domains: tuple[str, ...], plain: tuple[bytes, ...]) -> bool:
    """``from_header_mentions``, skipped when no domain occurs in the block at all.

    ``plain``: the domains as bytes when none has white space (then a From value can only
    mention one that the block contains), else () for no shortcut.
    """
    if plain:
        low = head.lower()
        if not any(d in low for d in plain):
            return False
    return from_header_mentions(head, domains)


def to_us(when: datetime) -> int:
    return (when - EPOCH) // MICROSECOND


def from_us(us: int) -> datetime:
    return EPOCH + us * MICROSECOND


def normalize(domains: tuple[str, ...]) -> tuple[str, ...]:
    """Sender domains as the index keeps them: lower case, sorted; () = every message."""
    return tuple(sorted({d.lower() for d in domains if d}))


@dataclass
class MboxIndex:
    """The candidate messages of ``[0, size)``, in file order, ``FIELDS`` ints each."""

    size: int
    domains: tuple[str, ...]  # normalized; () = every message is a candidate
    count: int = 0  # messages in the file
    tail: int = 0  # where the last message starts (an append is indexed from there)
    undated_first: bool = False  # the first From_ line has no date: its time is the mtime
    rows: array[int] = field(default_factory=lambda: array("q"))

    def covers(self, domains: tuple[str, ...]) -> bool:
        """Is every message From one of ``domains`` (normalized) a candidate here?"""
        return not self.domains or (bool(domains) and set(domains) <= set(self.domains))

    def newest_first(self, start: int = 0) -> list[int]:
        """Row numbers of the candidates starting at ``start`` or later, newest first.

        Ties: later in the file first (the later of two equal times was delivered later).
        """
        rows = self.rows
        picked = [k for k in range(len(rows) // FIELDS) if rows[k * FIELDS] >= start]
        picked.sort(key=lambda k: (rows[k * FIELDS + 3], rows[k * FIELDS]), reverse=True)
        return picked

    def row(self, k: int) -> tuple[int, int, int, datetime, ReceivedSource]:
        """(From_ line offset, body offset, end offset, receive time, its source) of row k."""
        line, body, end, us, source = self.rows[k * FIELDS : (k + 1) * FIELDS]
        return line, body, end, from_us(us), SOURCES[source]

    def extended(self, tail: MboxIndex) -> MboxIndex:
        """This index with ``tail`` (an index of [self.tail, tail.size)) in place of its end."""
        keep = len(self.rows)
        while keep and self.rows[keep - FIELDS] >= self.tail:
            keep -= FIELDS
        rows = self.rows[:keep]
        rows.extend(tail.rows)
        count = self.count - (1 if self.count else 0) + tail.count
        return MboxIndex(tail.size, self.domains, count, tail.tail, self.undated_first, rows)


class _Pass:
    """One sequential pass over [start, size): every From_ line, each candidate's header."""

    def __init__(self, read: Read, size: int, file_time: datetime, domains: tuple[str, ...]):
        self.read = read
        self.index = MboxIndex(size, domains)
        self.file_time = file_time  # the only time for a first From_ line without a date
        self.buf = b""  # the bytes read last, from file offset ``base``
        self.base = 0
        self._pending: tuple[int, int, tuple[datetime, bool] | None] | None = None
        simple = all(d.isascii() and not any(c.isspace() for c in d) for d in domains)
        self.plain = tuple(d.encode() for d in domains) if simple else ()

    def _buffered(self, offset: int, size: int) -> bytes:
        i = offset - self.base
        if i >= 0 and i + size <= len(self.buf):
            return self.buf[i : i + size]
        return self.read(offset, size)  # the message started in an earlier chunk

    def _finish(self, line: int, body: int, when: tuple[datetime, bool] | None, end: int) -> None:
        """Count the message [line, end); keep it if its From names a domain."""
        index = self.index
        index.count += 1
        index.tail = line
        i = body - self.base
        cut = header_end(self.buf, i, min(i + end - body, i + HEAD_READ)) if i >= 0 else -1
        # Usually the header block is in the buffer already.
        head = self.buf[i:cut] if cut >= 0 else head_block(self._buffered, body, end)
        if index.domains and not _mentions(head, index.domains, self.plain):
            return
        if when is None:  # only the first line can be a From_ line without a date
            index.undated_first = True
            received, source = receive_time(head, self.file_time, FILE_TIME)
        else:
            evidence = FROM_LINE if when[1] else FROM_LINE_NO_ZONE
            received, source = receive_time(head, when[0], evidence)
        index.rows.extend((line, body, end, to_us(received), SOURCES.index(source)))

    def run(self, start: int) -> MboxIndex:
        size = self.index.size
        self.index.tail = start
        # Each buffer starts a little before the bytes not scanned yet: the byte before says
        # whether a line starts there (the file start counts as one), or a From_ line that
        # crossed the previous buffer's end is read again whole.
        if start == 0:
            self.base, self.buf = -1, b"\n" + self.read(0, min(CHUNK, size))
        else:
            self.base, self.buf = start - 1, self.read(start - 1, min(CHUNK, size - start) + 1)
        pos = start  # bytes before pos have been scanned
        while self.base + len(self.buf) > pos:
            keep = self._scan()
            pos = self.base + len(self.buf)
            if pos >= size:
                break
            self.base = pos - keep
            self.buf = self.read(self.base, min(CHUNK, size - pos) + keep)
        if self._pending is not None:
            self._finish(*self._pending, min(pos, size))
        return self.index

    def _scan(self) -> int:
        """Handle the From_ lines in the buffer; return how many of its last bytes to re-read."""
        buf, base = self.buf, self.base
        i = buf.find(b"\nFrom ")
        while i >= 0:
            line_end = buf.find(b"\n", i + 1)
            if line_end < 0:
                break  # the line continues in the next buffer
            when = from_line_time(buf[i + 1 : line_end])
            if when is not None or base + i + 1 == 0:
                if self._pending is not None:
                    self._finish(*self._pending, base + i + 1)
                self._pending = (base + i + 1, base + line_end + 1, when)
            i = buf.find(b"\nFrom ", line_end)
        if i < 0:  # nothing pending: only a trailing partial line can start a separator
            nl = buf.rfind(b"\n")
            return len(buf) - nl if nl >= 0 and len(buf) - nl <= 1024 else 0
        # A From_ line crosses the buffer end (a 64 KiB "line" is no From_ line).
        return len(buf) - i if len(buf) - i <= MAX_FROM_LINE else 0


def build(
    read: Read, start: int, size: int, file_time: datetime, domains: tuple[str, ...]
) -> MboxIndex:
    """Index the messages starting in [start, size) (``start``: 0 or a From_ line's offset)."""
    return _Pass(read, size, file_time, domains).run(start)
