"""The mbox header index, kept across runs in the user cache folder, trusted only when proven.

An index file is keyed by the mbox's (device, inode) and records the (size, mtime_ns) it was
built at, plus SHA-256 checksums of the first and the last ``CHECK_BLOCK`` bytes indexed:

* same size and mtime_ns, checksums match: the file is unchanged, the index is used as is;
* larger, checksums of the indexed bytes match: mail was appended; only the end (from the
  last indexed message on) is indexed and the index saved again;
* anything else (smaller, replaced, rewritten in place, another format version, a corrupt or
  foreign file, domains it was not built for): a full pass builds it again.

Files below ``MIN_CACHED`` bytes are indexed in memory on every lookup (a few ms), and so is
every file when the cache folder cannot be written. Index files are written atomically
(temp file + rename), 0600 in a 0700 folder, and hold no message text (see ``mbox_index``).
Nothing is ever written next to the mailbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from array import array
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inbox_finder.fileutil import write_private

from .mbox_index import FIELDS, SOURCES, MboxIndex, Read, build, normalize, to_us

log = logging.getLogger(__name__)

MAGIC = b"inbox-finder mbox index\n"
VERSION = 1  # bump when the index or the receive-time rules change: old files are rebuilt
CHECK_BLOCK = 64 << 10
MIN_CACHED = 1 << 20  # smaller files: indexed in memory every time
MAX_FILES = 256  # index files kept; the least recently written go first
_MIN_US = to_us(datetime.min.replace(tzinfo=UTC))  # the times a datetime can hold
_MAX_US = to_us(datetime.max.replace(tzinfo=UTC))


def cache_dir() -> Path:
    import platformdirs  # lazy: only a large mbox needs it

    return Path(platformdirs.user_cache_dir("inbox-finder")) / "mbox-index"


def _sha256(data: bytes) -> str:
    import hashlib  # lazy: a small mbox never needs it

    return hashlib.sha256(data).hexdigest()


def _checks(read: Read, size: int) -> list[list[Any]]:
    """[offset, length, sha256] of the first and the last CHECK_BLOCK bytes of [0, size)."""
    spans = {(0, min(CHECK_BLOCK, size)), (max(0, size - CHECK_BLOCK), min(CHECK_BLOCK, size))}
    return [[o, n, _sha256(read(o, n))] for o, n in sorted(spans)]


def _digest(header: dict[str, Any], payload: bytes) -> str:
    canon = json.dumps({k: v for k, v in header.items() if k != "digest"}, sort_keys=True)
    return _sha256(canon.encode() + b"\n" + payload)


def _payload(rows: array[int]) -> bytes:
    data = array("q", rows)
    if sys.byteorder == "big":
        data.byteswap()
    return data.tobytes()


def _rows(payload: bytes) -> array[int]:
    rows = array("q")
    rows.frombytes(payload)
    if sys.byteorder == "big":
        rows.byteswap()
    return rows


def _valid_rows(rows: array[int], size: int, tail: int) -> bool:
    """Offsets inside the file, in file order, not overlapping; known sources; sane times."""
    previous_end = 0
    for k in range(0, len(rows), FIELDS):
        line, body, end, us, source = rows[k : k + FIELDS]
        if not previous_end <= line < body <= end <= size or line > tail:
            return False
        if not 0 <= source < len(SOURCES) or not _MIN_US <= us <= _MAX_US:
            return False
        previous_end = end
    return True


def _parse(data: bytes, st: os.stat_result) -> tuple[MboxIndex, int, list[Any]] | None:
    """The index in ``data`` with its mtime_ns and checks, if well formed and for this file."""
    if not data.startswith(MAGIC):
        return None
    nl = data.find(b"\n", len(MAGIC))
    if nl < 0:
        return None
    header = json.loads(data[len(MAGIC) : nl])
    payload = data[nl + 1 :]
    if not isinstance(header, dict) or header.get("version") != VERSION:
        return None
    if header.get("digest") != _digest(header, payload):
        return None
    ints = [header[k] for k in ("dev", "ino", "size", "mtime_ns", "count", "tail")]
    if not all(type(v) is int for v in ints):
        return None
    dev, ino, size, mtime_ns, count, tail = ints
    domains, checks = header["domains"], header["checks"]
    if (dev, ino) != (st.st_dev, st.st_ino) or not 0 <= tail <= size <= st.st_size:
        return None
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        return None
    if type(header["undated_first"]) is not bool or not isinstance(checks, list):
        return None
    if len(payload) % (8 * FIELDS) or count < 0:
        return None
    rows = _rows(payload)
    if normalize(tuple(domains)) != tuple(domains) or not _valid_rows(rows, size, tail):
        return None
    index = MboxIndex(size, tuple(domains), count, tail, header["undated_first"], rows)
    return index, mtime_ns, checks


def load(path: Path, st: os.stat_result, read: Read) -> tuple[MboxIndex, int] | None:
    """The cached index of this file and the mtime_ns it was built at, if it can be trusted."""
    try:
        if path.stat().st_size > 2 * st.st_size + (1 << 20):
            return None  # no index of this file is that large
        parsed = _parse(path.read_bytes(), st)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:  # corrupt: rebuilt
        log.debug("ignoring the mbox index %s: %s", path, exc)
        return None
    if parsed is None:
        log.debug("ignoring the mbox index %s: not for this file or this version", path)
        return None
    index, mtime_ns, checks = parsed
    if checks != _checks(read, index.size):
        log.debug("ignoring the mbox index %s: the indexed bytes changed", path)
        return None
    return index, mtime_ns


def save(path: Path, index: MboxIndex, st: os.stat_result, read: Read) -> None:
    """Write the index atomically (0600, in a 0700 folder); drop the oldest index files."""
    header: dict[str, Any] = {
        "version": VERSION,
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": index.size,
        "mtime_ns": st.st_mtime_ns,
        "count": index.count,
        "tail": index.tail,
        "undated_first": index.undated_first,
        "domains": list(index.domains),
        "checks": _checks(read, index.size),
    }
    payload = _payload(index.rows)
    header["digest"] = _digest(header, payload)
    for folder in (path.parent.parent, path.parent):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700, parents=folder == path.parent.parent)
    write_private(path, MAGIC + json.dumps(header).encode() + b"\n" + payload)
    _prune(path.parent)


def _prune(folder: Path) -> None:
    files = [(p.stat().st_mtime, p) for p in folder.glob("*.idx")]
    for _, old in sorted(files, reverse=True)[MAX_FILES:]:
        with contextlib.suppress(OSError):
            old.unlink()


def current(
    read: Read,
    fstat: Callable[[], os.stat_result],
    file_time: datetime,
    domains: tuple[str, ...],
    *,
    trust_cache: bool = True,
) -> MboxIndex:
    """The index of the whole file now: cached, extended by what was appended, or rebuilt."""
    st = fstat()
    wanted = normalize(domains)
    if st.st_size < MIN_CACHED:
        return build(read, 0, st.st_size, file_time, wanted)
    path = cache_dir() / f"{st.st_dev:x}-{st.st_ino:x}.idx"
    cached = load(path, st, read) if trust_cache else None
    if cached is not None and cached[0].covers(wanted):
        old, mtime_ns = cached
        if old.size == st.st_size and mtime_ns == st.st_mtime_ns:
            return old
        if old.size < st.st_size and not old.undated_first:
            log.debug("%s grew: indexing from byte %d", path, old.tail)
            tail = build(read, old.tail, st.st_size, file_time, old.domains)
            return _stored(path, old.extended(tail), st, fstat, read)
    if cached is not None:  # built for other domains: cover both from now on
        wanted = normalize(wanted + cached[0].domains) if wanted and cached[0].domains else ()
    log.info("indexing the mbox (%d MiB; later lookups reuse the index)", st.st_size >> 20)
    return _stored(path, build(read, 0, st.st_size, file_time, wanted), st, fstat, read)


def _stored(
    path: Path,
    index: MboxIndex,
    st: os.stat_result,
    fstat: Callable[[], os.stat_result],
    read: Read,
) -> MboxIndex:
    """Save ``index`` unless the file changed during the pass or the cache is not writable."""
    now = fstat()
    if (now.st_size, now.st_mtime_ns, now.st_ino) != (st.st_size, st.st_mtime_ns, st.st_ino):
        log.debug("the mbox changed while it was indexed: not saving the index")
        return index
    try:
        save(path, index, st, read)
    except OSError as exc:
        log.debug("cannot save the mbox index %s (%s): indexing in memory each time", path, exc)
    return index
