"""Reading one ``.emlx`` / ``.partial.emlx`` file: the byte count, the message, the plist.

An ``.emlx`` file is a decimal byte count on its first line (sometimes padded with spaces),
then exactly that many bytes of RFC 822 message (LF line ends), then an XML property list
with Apple Mail's metadata: ``date-received`` / ``date-sent`` (Unix seconds), ``flags``
(bit 1: deleted, bit 0: read, …). A ``.partial.emlx`` has the same layout, but Apple Mail
left the bodies of some attachments out (kept apart under ``Attachments/``); headers and
text parts are all there, which is all a token lookup needs.

Reads go through a descriptor from ``Tree.open`` (regular files inside the store only) with
``os.pread``: a few bytes for the count, the plist at its offset, never the whole file
unless the message is fetched. Only two numbers of the plist are used, read by pattern.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from inbox_finder.errors import MailboxError
from inbox_finder.mail.headers import HEADER_END, MAX_HEADER_BYTES, header_block

HEAD_READ = 16384
MAX_PLIST = 65536  # Apple Mail's plists are a few hundred bytes
FLAG_DELETED = 1 << 1
_COUNT = re.compile(rb"[ \t]*([0-9]{1,12})[ \t]*\r?\n")
_RECEIVED = re.compile(rb"<key>date-received</key>\s*<(integer|real)>([^<]{1,40})</")
_FLAGS = re.compile(rb"<key>flags</key>\s*<(integer)>([^<]{1,40})</")
# Apple Mail wrote its first .emlx files in 2005; a date outside these years is not a record.
_EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Meta:
    """Where the message lies in the file, and what the plist says about it."""

    start: int
    length: int
    received: datetime | None
    deleted: bool


def _pread(fd: int, size: int, offset: int, what: str) -> bytes:
    try:
        return os.pread(fd, size, offset)
    except OSError as exc:
        raise MailboxError(f"cannot read {what}: {exc.strerror}") from exc


def read_layout(fd: int, what: str) -> tuple[int, int] | None:
    """(start, length) of the message in an open ``.emlx``; None without a byte count."""
    m = _COUNT.match(_pread(fd, 64, 0, what))
    return (m.end(), int(m.group(1))) if m else None


def read_meta(fd: int, what: str) -> Meta | None:
    """The layout and plist of an open ``.emlx``; None when it does not start with a count."""
    layout = read_layout(fd, what)
    if layout is None:
        return None
    start, length = layout
    plist = _pread(fd, MAX_PLIST, start + length, what)
    return Meta(start, length, _date(_value(plist, _RECEIVED)), _deleted(_value(plist, _FLAGS)))


def _value(plist: bytes, key: re.Pattern[bytes]) -> int | float | None:
    """A number the plist's top-level dict holds under ``key`` (None: absent or not a number).

    Apple Mail's plist is a flat dict of simple values, so the number is read with a pattern
    rather than a full XML parse (plistlib costs ~0.2 ms a file: seconds for a large store).
    """
    m = key.search(plist)
    if m is None:
        return None
    text = m.group(2).strip()
    try:
        return int(text) if m.group(1) == b"integer" else float(text)
    except ValueError:
        return None


def _date(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        when = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return when if _EARLIEST <= when < _LATEST else None


def _deleted(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and bool(value & FLAG_DELETED)


def read_head(fd: int, layout: tuple[int, int], what: str) -> bytes:
    """The message's header block (nothing past the byte count)."""
    start, length = layout
    data = _pread(fd, min(length, HEAD_READ), start, what)
    if HEADER_END.search(data) is None and length > HEAD_READ:
        more = min(length, MAX_HEADER_BYTES) - HEAD_READ
        data += _pread(fd, max(more, 0), start + HEAD_READ, what)
    return header_block(data)


def read_message(fd: int, layout: tuple[int, int], what: str) -> bytes:
    """The RFC 822 message: exactly the counted bytes after the first line."""
    chunks, (offset, left) = [], layout
    while left > 0:
        chunk = _pread(fd, min(left, 1 << 20), offset, what)
        if not chunk:
            break  # shorter than its count: a file cut off; return what is there
        chunks.append(chunk)
        offset, left = offset + len(chunk), left - len(chunk)
    return b"".join(chunks)
