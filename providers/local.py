"""Local mailboxes: ``maildir:PATH``, ``mbox:PATH`` and ``eml:DIR``, opened read-only.

Receive time is the Date header, then the newest Received header, then the file's own time
(the mbox ``From_`` line, the Maildir delivery time in the file name, the file's mtime).
Only header blocks are read to order and narrow candidates; whole messages are read on fetch.
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.model import Candidate, ReceivedSource
from inbox_finder.parse import parse_headers
from inbox_finder.provider import Provider, Query, SourceOptions, split_scheme

MAX_HEADER_BYTES = 256 * 1024
_FROM_HEADER = re.compile(rb"^from:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# A From_ line carries an asctime date; requiring it keeps body lines such as
# "From the desk of ..." (unescaped in mboxo files) from splitting a message.
_MBOX_SEP = re.compile(
    rb"^From [^\n]*?[A-Z][a-z]{2} +[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d(?::\d\d)? [^\n]*$",
    re.MULTILINE,
)
_MBOX_SEP_LOOSE = re.compile(rb"^From ", re.MULTILINE)
_ASCTIME = re.compile(rb"[A-Z][a-z]{2} +([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d) (\d{4})")
_DELIVERY = re.compile(r"^(\d{9,11})[._]")


def header_block(data: bytes) -> bytes:
    """The header block at the start of ``data`` (up to the first blank line, capped)."""
    m = _HEADER_END.search(data, 0, MAX_HEADER_BYTES)
    return data[: m.end()] if m else data[:MAX_HEADER_BYTES]


def from_mentions(block: bytes, domains: Iterable[str]) -> bool:
    """Superset narrowing: does the From header mention one of ``domains`` at all?"""
    m = _FROM_HEADER.search(block)
    if not m:
        return False
    value = m.group(1).lower()
    return any(d.lower().encode() in value for d in domains)


def receive_time(block: bytes, file_time: datetime) -> tuple[datetime, ReceivedSource]:
    """Date header, then the newest Received header, then the file's own time."""
    headers = parse_headers(block)
    if headers.date is not None:
        return headers.date, "date-header"
    if headers.received_dates:
        return max(headers.received_dates), "received-header"
    return file_time, "file-time"


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
    return Path(os.path.expanduser(rest))


@dataclass(frozen=True)
class _Entry:
    ref: str
    block: bytes
    file_time: datetime


class _LocalProvider(Provider):
    """Shared logic: enumerate header blocks, narrow, order by receive time."""

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

    def _entries(self, after_cursor: str | None = None) -> Iterator[_Entry]:
        raise NotImplementedError

    def _dir_cursor(self, *dirs: Path) -> str:
        # Adding, removing or renaming a file updates its folder's mtime.
        stamps = [str(d.stat().st_mtime_ns) if d.is_dir() else "-" for d in dirs]
        return f"{self.scheme}:" + ":".join(stamps)

    def search(self, query: Query) -> Iterator[Candidate]:
        found = []
        for entry in self._entries(query.after_cursor):
            if not from_mentions(entry.block, query.sender_domains):
                continue
            received, how = receive_time(entry.block, entry.file_time)
            if query.since is not None and received < query.since:
                continue
            found.append(Candidate(entry.ref, received, how, entry.block))
        found.sort(key=lambda c: c.received, reverse=True)
        yield from found

    def _read_file(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc

    def _read_head(self, path: Path) -> bytes:
        try:
            with path.open("rb") as fh:
                return header_block(fh.read(MAX_HEADER_BYTES))
        except OSError as exc:
            raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc


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

    def _entries(self, after_cursor: str | None = None) -> Iterator[_Entry]:
        for file in sorted(self.path.glob("*.eml")):
            if file.is_file():
                yield _Entry(file.name, self._read_head(file), _mtime(file))

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

    def _entries(self, after_cursor: str | None = None) -> Iterator[_Entry]:
        for sub in ("new", "cur"):
            folder = self.path / sub
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                if file.name.startswith(".") or not file.is_file():
                    continue
                m = _DELIVERY.match(file.name)
                when = datetime.fromtimestamp(int(m.group(1)), UTC) if m else _mtime(file)
                yield _Entry(f"{sub}/{file.name}", self._read_head(file), when)

    def fetch(self, candidate: Candidate) -> bytes:
        return self._read_file(self.path / candidate.ref)


def _from_line_time(line: bytes, fallback: datetime) -> datetime:
    m = _ASCTIME.search(line)
    if not m:
        return fallback
    text = b" ".join(m.groups()).decode()
    try:
        # The From_ line has no zone; delivery agents write UTC or local time. Read it as UTC.
        return datetime.strptime(text, "%b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return fallback


class MboxProvider(_LocalProvider):
    """An mbox file; file time is the ``From_`` line's date. Memory-mapped, read-only."""

    scheme = "mbox"
    kind = "mbox file"

    def __init__(self, path: Path, url: str) -> None:
        super().__init__(path, url)
        self._map: mmap.mmap | bytes | None = None

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not path.is_file():
            raise ConfigError(f"mbox: source must be a file: {path}")

    def _data(self) -> mmap.mmap | bytes:
        if self._map is None:
            try:
                fh = self.path.open("rb")
            except OSError as exc:
                raise ConfigError(f"cannot open mbox file {self.path}: {exc.strerror}") from exc
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                fh.close()
                self._map = b""
            else:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                fh.close()  # the mapping stays valid after the descriptor is closed
            if self._map[:5] not in (b"", b"From "):
                raise ConfigError(f"not an mbox file (no 'From ' line at the start): {self.path}")
        return self._map

    def sync_cursor(self) -> str:
        st = self.path.stat()
        return f"mbox:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"

    def _resume_offset(self, after_cursor: str | None) -> int:
        """Where new mail starts: the old size if the same file only grew, else 0."""
        parts = (after_cursor or "").split(":")
        if len(parts) != 4 or parts[0] != "mbox":
            return 0
        st = self.path.stat()
        old_size = int(parts[2])
        return old_size if str(st.st_ino) == parts[1] and st.st_size >= old_size else 0

    def _entries(self, after_cursor: str | None = None) -> Iterator[_Entry]:
        data = self._data()
        file_time = _mtime(self.path)
        offset = self._resume_offset(after_cursor)
        starts = [m.start() for m in _MBOX_SEP.finditer(data, offset)]
        if data and offset == 0 and (not starts or starts[0] != 0):
            starts = [m.start() for m in _MBOX_SEP_LOOSE.finditer(data)]
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(data)
            line_end = data.find(b"\n", start, end)
            if line_end < 0:
                continue
            body_start = line_end + 1
            block = header_block(data[body_start : min(end, body_start + MAX_HEADER_BYTES)])
            when = _from_line_time(data[start:line_end], file_time)
            yield _Entry(f"{body_start}:{end}", block, when)

    def fetch(self, candidate: Candidate) -> bytes:
        start, _, end = candidate.ref.partition(":")
        return bytes(self._data()[int(start) : int(end)])

    def close(self) -> None:
        if isinstance(self._map, mmap.mmap):
            self._map.close()
        self._map = None
