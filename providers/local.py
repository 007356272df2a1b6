"""Local mailboxes: ``maildir:PATH``, ``mbox:PATH`` and ``eml:DIR``, opened read-only.

Receive time is the Date header, then the newest Received header, then the file's own time
(the mbox ``From_`` line, the Maildir delivery time in the file name, the file's mtime).

Messages are visited newest *delivery* first (the end of an mbox, Maildir names sorted by
delivery time) and only their header blocks are read. A Date header is trusted up to
``DATE_SKEW`` after delivery (later is a sender's broken clock: the delivery time is used), so
once the delivery frontier has moved ``DATE_SKEW`` below a buffered candidate, no unread
message can be newer and the candidate is yielded. A lookup therefore stops early, near the end
of a large mailbox, while still yielding strictly newest first by receive time.
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Self

from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.model import Candidate, ReceivedSource
from inbox_finder.parse import parse_headers
from inbox_finder.provider import Provider, Query, SourceOptions, split_scheme

MAX_HEADER_BYTES = 256 * 1024
DATE_SKEW = timedelta(days=1)
CHUNK = 1 << 20
HEAD_READ = 16384  # enough for nearly every header block; longer ones are read again
_FROM_HEADER = re.compile(rb"^from:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
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
_DELIVERY = re.compile(r"^(\d{9,11})[._]")


def header_block(data: bytes) -> bytes:
    """The header block at the start of ``data`` (up to the first blank line, capped)."""
    m = _HEADER_END.search(data, 0, MAX_HEADER_BYTES)
    return data[: m.end()] if m else data[:MAX_HEADER_BYTES]


def from_mentions(block: bytes, domains: tuple[str, ...]) -> bool:
    """Superset narrowing: does the From header mention one of ``domains`` at all?"""
    m = _FROM_HEADER.search(block)
    if not m:
        return False
    value = m.group(1).lower()
    return any(d.lower().encode() in value for d in domains)


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


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _local_path(url: str, expected_scheme: str) -> Path:
    scheme, rest = split_scheme(url)
    if scheme != expected_scheme:
        raise ConfigError(f"not a {expected_scheme}: source: {url!r}")
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest:
        raise ConfigError(f"{expected_scheme}: source needs a path, e.g. {expected_scheme}:~/Mail")
    return Path(rest).expanduser()


@dataclass(frozen=True)
class _Entry:
    """One message in delivery order: its ref, delivery time and a lazy header reader."""

    ref: str
    delivered: datetime
    head: Callable[[], bytes]


class _LocalProvider(Provider):
    """Shared logic: visit newest delivery first, narrow by From, yield by receive time."""

    scheme = ""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self._url = url

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        path = _local_path(url, cls.scheme)
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

    def _entries(self, after_cursor: str | None) -> Iterator[_Entry]:
        """Messages newest delivery first (non-increasing ``delivered``)."""
        raise NotImplementedError

    def _dir_cursor(self, *dirs: Path) -> str:
        # Adding, removing or renaming a file updates its folder's mtime.
        stamps = [str(d.stat().st_mtime_ns) if d.is_dir() else "-" for d in dirs]
        return f"{self.scheme}:" + ":".join(stamps)

    def search(self, query: Query) -> Iterator[Candidate]:
        heap: list[tuple[float, int, Candidate]] = []
        for seq, entry in enumerate(self._entries(query.after_cursor)):
            # No unread message can have a receive time above this bound.
            bound = entry.delivered + DATE_SKEW
            while heap and -heap[0][0] >= bound.timestamp():
                yield heapq.heappop(heap)[2]
            if query.since is not None and bound < query.since:
                break  # everything still unread is older than --since
            block = entry.head()
            if not from_mentions(block, query.sender_domains):
                continue
            received, how = receive_time(block, entry.delivered)
            if query.since is not None and received < query.since:
                continue
            candidate = Candidate(entry.ref, received, how, block)
            heapq.heappush(heap, (-received.timestamp(), seq, candidate))
        while heap:
            yield heapq.heappop(heap)[2]

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
                    if _HEADER_END.search(data) is None and len(data) == HEAD_READ:
                        data += fh.read(MAX_HEADER_BYTES - HEAD_READ)
                    return header_block(data)
            except OSError as exc:
                raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc

        return read


class EmlDirProvider(_LocalProvider):
    """A folder of ``.eml`` files (one message each); file time is the mtime."""

    scheme = "eml"
    kind = "eml folder"

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not path.is_dir():
            raise ConfigError(f"eml: source must be a folder of .eml files: {path}")

    def sync_cursor(self) -> str:
        return self._dir_cursor(self.path)

    def _entries(self, after_cursor: str | None) -> Iterator[_Entry]:
        files = [(f, _mtime(f)) for f in self.path.glob("*.eml") if f.is_file()]
        files.sort(key=lambda item: (item[1], item[0].name), reverse=True)
        for file, when in files:
            yield _Entry(file.name, when, self._head_reader(file))

    def fetch(self, candidate: Candidate) -> bytes:
        return self._read_file(self.path / candidate.ref)


class MaildirProvider(_LocalProvider):
    """A Maildir folder (``cur/`` and ``new/``); file time is the delivery time in the name."""

    scheme = "maildir"
    kind = "Maildir"

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise ConfigError(f"not a Maildir (no cur/ or new/ folder): {path}")

    def sync_cursor(self) -> str:
        return self._dir_cursor(self.path / "new", self.path / "cur")

    def _entries(self, after_cursor: str | None) -> Iterator[_Entry]:
        files: list[tuple[datetime, str]] = []
        for sub in ("new", "cur"):
            folder = self.path / sub
            if not folder.is_dir():
                continue
            for name in os.listdir(folder):
                if name.startswith("."):
                    continue
                m = _DELIVERY.match(name)
                # The name carries the delivery time; a stat is needed only for odd names.
                when = datetime.fromtimestamp(int(m.group(1)), UTC) if m else _mtime(folder / name)
                files.append((when, f"{sub}/{name}"))
        files.sort(reverse=True)
        for when, ref in files:
            yield _Entry(ref, when, self._head_reader(self.path / ref))

    def fetch(self, candidate: Candidate) -> bytes:
        return self._read_file(self.path / candidate.ref)


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


class MboxProvider(_LocalProvider):
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

    def _index(self, start: int, size: int) -> list[tuple[int, int, datetime | None]]:
        """(offset, From_ line length, delivery time) of every message from ``start`` on.

        One sequential pass in chunks (bounded memory); only From_ lines are looked at. mbox
        files are not always in delivery order (imports, Takeout exports), so the caller
        sorts by delivery time instead of trusting file order.
        """
        found: list[tuple[int, int, datetime | None]] = []
        fh = self._file()
        pos = start
        # The file start counts as a line start; when resuming, the byte before says if it is.
        carry = b"\n" if start == 0 else os.pread(fh.fileno(), 1, start - 1)
        while pos < size:
            chunk = os.pread(fh.fileno(), min(CHUNK, size - pos), pos)
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
                carry = buf[i:] if len(buf) - i <= 65536 else b""
            pos += len(chunk)
        return found

    def _entries(self, after_cursor: str | None) -> Iterator[_Entry]:
        size = os.fstat(self._file().fileno()).st_size
        index = self._index(self._resume_offset(after_cursor, size), size)
        file_time = _mtime(self.path)
        ends = [offset for offset, _, _ in index[1:]] + [size] if index else []
        entries = [
            # Without a From_ date only the file's mtime bounds the delivery time.
            (when or file_time, offset, offset + length + 1, end)
            for (offset, length, when), end in zip(index, ends, strict=True)
        ]
        entries.sort(reverse=True)  # newest delivery first; later in the file first on ties
        for delivered, _, body, end in entries:
            yield _Entry(f"{body}:{end}", delivered, self._mbox_head(body, end))

    def _mbox_head(self, start: int, end: int) -> Callable[[], bytes]:
        def read() -> bytes:
            data = self._pread(start, min(end - start, 16384))
            if _HEADER_END.search(data) is None and end - start > len(data):
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
