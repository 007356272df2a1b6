"""``mbox:PATH``: one mbox file, read backwards from its end, with a guard for disordered files.

A delivery agent appends to an mbox, so the newest mail is at its end. The provider reads
``From_`` lines backwards from the end (``CHUNK`` reads) and hands each message to the shared
``LocalProvider.search`` as soon as its ``From_`` line is found, together with a *frontier*:
a bound on the delivery time of that message and of every message not handed out yet. search()
yields a buffered candidate once frontier + ``DATE_SKEW`` is at or below it, so a lookup stops,
and the file read with it, a day or two of mail before the newest candidate: time and memory do
not grow with the file size.

Not every mbox is in delivery order: imports, concatenated archives and Google Takeout exports
are not. A bound on the ``From_`` times of messages not read yet cannot be *known* without
reading them (any unread message may carry the latest date), so the backward walk rests on one
assumption, checked wherever that is cheap, and everything else uses the exact path (the full
forward index of every ``From_`` line, sorted by delivery time):

1. Regions up to ``EXACT_MAX`` bytes (a small file, or what an incremental scan finds appended)
   always take the exact path: it costs at most ~30 ms there.
2. The region is sampled first: the first ``From_`` line after each of ``SAMPLES`` evenly
   spaced offsets (small preads). If one sampled line is more than ``ORDER_SLACK`` earlier than
   a sampled line before it, the file is not an append log: exact path, before anything is read.
3. The backward walk runs ``LOOKAHEAD`` bytes of ``From_`` lines ahead of the messages it hands
   out. The frontier handed out with a message is the latest ``From_`` time among it and the
   walked messages not handed out yet, + ``ORDER_SLACK`` for those not walked yet: the
   assumption is that *no message is more than ORDER_SLACK later than the latest one in the
   LOOKAHEAD bytes after it*. DST and clock steps fit the slack; an old message saved into the
   end of the file does not lower the frontier. A frontier is never above the previous one, so
   each one promises everything the earlier ones did.
4. Before a frontier is handed out it is checked against every sampled ``From_`` line not walked
   yet (a small archive appended after newer mail is caught here); while walking, every
   ``From_`` line is checked against the frontier already promised. On a failed check the rest
   of the region (everything not handed out yet) takes the exact path.

Why this is safe. Invariant: when a message is handed out with frontier F, every ``From_`` time
known at that moment (the lookahead, the samples not walked yet) of a message not handed out
yet is <= F. search() yields a candidate only once its receive time is >= F + DATE_SKEW, which
bounds the receive time of every such message. So a yielded candidate can be wrong only
because of a message that was neither sampled nor in the lookahead when it was yielded and
whose ``From_`` time is above F. If the caller reads on until that message is walked, check 4
sends the rest to the exact index, and search() raises MailboxError rather than yield a
candidate newer than one already yielded: the output is always strictly newest first, or an
error, never silently out of order. Only a caller that stopped earlier (``find``) got an
answer that ignored such a message. That needs a run of mail dated later than the answer and
more than ORDER_SLACK later than the LOOKAHEAD bytes of mail after it, missed by every sample
(so shorter than 1/SAMPLES of the region): in an append log, a delivery clock that once ran
days ahead (where the file position is the truer order); in a spliced file, a splice that
small. Only reading every ``From_`` line excludes it, which is what the fast path avoids.
"""

from __future__ import annotations

import logging
import os
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO, NamedTuple

from inbox_finder.errors import ConfigError
from inbox_finder.mail.headers import HEADER_END, MAX_HEADER_BYTES, header_block
from inbox_finder.model import Candidate

from ._base import DATE_SKEW, HEAD_READ, Entry, LocalProvider, mtime

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes per read, in both directions
EXACT_MAX = 16 << 20  # regions up to this size are always indexed in full (exact, ~20 ms)
SAMPLES = 64  # From_ lines sampled across a larger region before trusting its order
PROBE = 64 << 10  # bytes read per sample
LOOKAHEAD = 4 << 20  # the backward walk reads From_ lines this far ahead of what it hands out
ORDER_SLACK = DATE_SKEW  # From_ times may run backwards this much and still count as in order
MAX_FROM_LINE = 64 << 10  # a longer "From " line is not a separator

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


def _from_line_time(line: bytes) -> datetime | None:
    """The delivery time on a From_ line (UTC unless the line names an offset)."""
    m = _FROM_LINE.match(line)
    if not m or m.group(1) not in _MONTHS:
        return None
    mon, day, hh, mm, ss, zone, year = m.groups()
    try:
        when = datetime(
            int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    if zone:  # "+0100": the wall clock is ahead of UTC by that much
        sign = 1 if zone[:1] == b"+" else -1
        when -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return when


class _Sep(NamedTuple):
    """A From_ line: where it starts, where its message starts, the delivery time."""

    line: int
    body: int
    when: datetime


def _in_order(seps: list[_Sep]) -> bool:
    """No From_ line more than ORDER_SLACK earlier than one before it (``seps`` in file order)."""
    latest: datetime | None = None
    for sep in seps:
        if latest is not None and sep.when < latest - ORDER_SLACK:
            return False
        latest = sep.when if latest is None else max(latest, sep.when)
    return True


class MboxProvider(LocalProvider):
    """An mbox file, read backwards from its end in chunks (memory stays bounded)."""

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
        return os.pread(self._file().fileno(), size, offset)

    def sync_cursor(self) -> str:
        st = self.path.stat()
        return f"mbox:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"

    def _resume_offset(self, after_cursor: str | None, size: int) -> int:
        """Where new mail starts: the old size if the same file only grew, else 0."""
        parts = (after_cursor or "").split(":")
        if len(parts) != 4 or parts[0] != "mbox":
            return 0
        old_size = int(parts[2])
        same = str(os.fstat(self._file().fileno()).st_ino) == parts[1]
        return old_size if same and size >= old_size else 0

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        size = os.fstat(self._file().fileno()).st_size
        lo = self._resume_offset(after_cursor, size)
        file_time = mtime(self.path)  # the only bound for a first From_ line without a date
        if size - lo <= EXACT_MAX:
            return self._sorted_entries(lo, size, file_time)
        sample = self._sample(lo, size, file_time)
        if not _in_order(sample):
            log.debug("%s: sampled From_ lines are out of order; indexing all", self.path)
            return self._sorted_entries(lo, size, file_time)
        return self._backward_entries(lo, size, file_time, sample)

    # --- the exact path: every From_ line, sorted -------------------------------------------

    def _index(self, start: int, size: int) -> list[tuple[int, int, datetime | None]]:
        """(offset, From_ line length, delivery time) of every message in [start, size).

        One sequential pass in chunks; only From_ lines are looked at.
        """
        found: list[tuple[int, int, datetime | None]] = []
        pos = start
        # The file start counts as a line start; when resuming, the byte before says if it is.
        carry = b"\n" if start == 0 else self._pread(start - 1, 1)
        while pos < size:
            chunk = self._pread(pos, min(CHUNK, size - pos))
            if not chunk:
                break
            buf = carry + chunk
            base = pos - len(carry)
            i = buf.find(b"\nFrom ")
            while i >= 0:
                line_end = buf.find(b"\n", i + 1)
                if line_end < 0:
                    break  # the line continues in the next chunk: carried over below
                line = buf[i + 1 : line_end]
                when = _from_line_time(line)
                if when is not None or base + i + 1 == 0:
                    found.append((base + i + 1, len(line), when))
                i = buf.find(b"\nFrom ", line_end)
            if i < 0:  # nothing pending: only a trailing partial line can start a separator
                nl = buf.rfind(b"\n")
                carry = buf[nl:] if nl >= 0 and len(buf) - nl <= 1024 else b""
            else:  # a From_ line crosses the chunk end (a 64 KiB "line" is no From_ line)
                carry = buf[i:] if len(buf) - i <= MAX_FROM_LINE else b""
            pos += len(chunk)
        return found

    def _sorted_entries(self, lo: int, hi: int, file_time: datetime) -> Iterator[Entry]:
        """Every message in [lo, hi), newest delivery first (memory grows with the count)."""
        index = self._index(lo, hi)
        ends = [offset for offset, _, _ in index[1:]] + [hi] if index else []
        entries = [
            # Without a From_ date only the file's mtime bounds the delivery time.
            (when or file_time, offset, offset + length + 1, end)
            for (offset, length, when), end in zip(index, ends, strict=True)
        ]
        entries.sort(reverse=True)  # newest delivery first; later in the file first on ties
        for delivered, _, body, end in entries:
            yield Entry(f"{body}:{end}", delivered, self._mbox_head(body, end))

    # --- the fast path: backwards from the end ----------------------------------------------

    def _separator(
        self, buf: bytes, at: int, base: int, hi: int, file_time: datetime
    ) -> _Sep | None:
        """The From_ line starting at ``buf[at:]`` (file offset ``base + at``), if it is one."""
        offset = base + at
        nl = buf.find(b"\n", at, at + MAX_FROM_LINE)
        if nl >= 0:
            line, body = buf[at:nl], base + nl + 1
        else:  # the line runs past the buffer (rare): read it on its own
            rest = self._pread(offset, min(MAX_FROM_LINE, hi - offset))
            nl = rest.find(b"\n")
            if nl < 0:
                return None
            line, body = rest[:nl], offset + nl + 1
        when = _from_line_time(line)
        if when is None and offset == 0:
            when = file_time  # the first line always starts a message
        if when is None or body > hi:
            return None
        return _Sep(offset, body, when)

    def _walk_back(self, lo: int, hi: int, file_time: datetime) -> Iterator[_Sep]:
        """Every From_ line starting in [lo, hi), the last one first."""
        pos = hi  # From_ lines starting at or after pos have been yielded
        while pos > lo:
            start = max(lo, pos - CHUNK)
            # buf[j] is the byte at offset base + j. It starts one byte early (that byte says
            # whether a line starts at ``start``; the file start counts as one) and runs 1 KiB
            # past ``pos`` so that a From_ line starting just before pos is complete.
            base = start - 1
            if start:
                buf = self._pread(base, pos - base + 1024)
            else:
                buf = b"\n" + self._pread(0, pos + 1024)
            # "\nFrom " whose line starts in [start, pos): its "\n" is at index pos - base - 2
            # at most, so the match ends at index pos - base + 4 at most.
            i = buf.rfind(b"\nFrom ", 0, pos - base + 4)
            while i >= 0:
                sep = self._separator(buf, i + 1, base, hi, file_time)
                if sep is not None:
                    yield sep
                i = buf.rfind(b"\nFrom ", 0, i)
            pos = start

    def _first_separator(self, offset: int, hi: int, file_time: datetime) -> _Sep | None:
        """The first From_ line starting in [offset, hi) and within PROBE bytes of offset."""
        base = offset - 1
        size = min(PROBE, hi - offset)
        buf = self._pread(base, size + 1) if offset else b"\n" + self._pread(0, size)
        i = buf.find(b"\nFrom ")
        while i >= 0:
            sep = self._separator(buf, i + 1, base, hi, file_time)
            if sep is not None:
                return sep
            i = buf.find(b"\nFrom ", i + 1)
        return None

    def _sample(self, lo: int, hi: int, file_time: datetime) -> list[_Sep]:
        """From_ lines after SAMPLES evenly spaced offsets of [lo, hi), in file order."""
        found: dict[int, _Sep] = {}
        for k in range(SAMPLES):
            sep = self._first_separator(lo + (hi - lo) * k // SAMPLES, hi, file_time)
            if sep is not None:
                found[sep.line] = sep
        return sorted(found.values())

    def _backward_entries(
        self, lo: int, hi: int, file_time: datetime, sample: list[_Sep]
    ) -> Iterator[Entry]:
        """Messages of [lo, hi) last first, each with a checked frontier (see the module doc)."""
        walk = self._walk_back(lo, hi, file_time)
        ahead: deque[_Sep] = deque()  # walked, not handed out yet; the latest in the file first
        peaks: deque[_Sep] = deque()  # sliding maximum of ``ahead``: ``when`` decreasing
        sample_lines = [s.line for s in sample]
        sample_peaks = list(accumulate((s.when for s in sample), max))
        walked = hi  # the earliest From_ line walked so far
        done = False  # every From_ line of the region has been walked
        promised: datetime | None = None  # the frontier handed out last (it never rises)
        end = hi  # end of the next message to hand out; [lo, end) is not handed out yet
        while True:
            while not done and (not ahead or ahead[0].line - walked < LOOKAHEAD):
                sep = next(walk, None)
                if sep is None:
                    done = True
                    break
                if promised is not None and sep.when > promised:
                    log.info(
                        "%s is not in delivery order (From_ line at byte %d is later than mail "
                        "after it); indexing the rest in full",
                        self.path,
                        sep.line,
                    )
                    yield from self._sorted_entries(lo, end, file_time)
                    return
                ahead.append(sep)
                while peaks and peaks[-1].when <= sep.when:
                    peaks.pop()
                peaks.append(sep)
                walked = sep.line
            if not ahead:
                return
            sep = ahead.popleft()
            if peaks[0] is sep:
                peaks.popleft()
            frontier = max(sep.when, peaks[0].when) if peaks else sep.when
            if not done:
                frontier += ORDER_SLACK  # for the From_ lines not walked yet
            if promised is not None:
                frontier = min(frontier, promised)
            unwalked = bisect_left(sample_lines, walked)  # sampled From_ lines before ``walked``
            if unwalked and sample_peaks[unwalked - 1] > frontier:
                log.info(
                    "%s is not in delivery order (a sampled From_ line before byte %d is later "
                    "than the mail after it); indexing the rest in full",
                    self.path,
                    walked,
                )
                yield from self._sorted_entries(lo, end, file_time)
                return
            promised = frontier
            yield Entry(f"{sep.body}:{end}", sep.when, self._mbox_head(sep.body, end), frontier)
            end = sep.line

    # --- reading messages -------------------------------------------------------------------

    def _mbox_head(self, start: int, end: int) -> Callable[[], bytes]:
        def read() -> bytes:
            data = self._pread(start, min(end - start, HEAD_READ))
            if HEADER_END.search(data) is None and end - start > len(data):
                data = self._pread(start, min(end - start, MAX_HEADER_BYTES))
            return header_block(data)

        return read

    def fetch(self, candidate: Candidate) -> bytes:
        start, _, end = candidate.ref.partition(":")
        return self._pread(int(start), int(end) - int(start))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
