"""The scan state file: salted fingerprints, a sync cursor and times — never a token.

    {"format": "inbox-finder-scan-state", "version": 1, "salt": "<hex>",
     "source": "<hmac of the source>", "cursor": "<provider cursor or null>",
     "usernames": {"<hmac of username>": {"fingerprint": "<hmac of token>",
                                         "received": "<ISO 8601>"}}}

Written atomically through ``fileutil.write_private`` (a new file 0600; an existing one keeps
owner, group and mode; a symlink is written through; its directory must exist). A corrupt or
foreign file is a ConfigError: silently starting over would re-announce every token. An
exclusive lock on ``FILE.lock`` next to the real file serialises scans that share it; a scan
that waits for it says so once and gives up after ``lock_timeout`` seconds.

The source is compared in a canonical form (``canonical_source``), so ``mbox:box``,
``mbox:./box`` and ``mbox:/abs/box`` are one source; files keyed by the literal string
(before canonical forms) are still recognised.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from inbox_finder.errors import ActionError, ConfigError, MailboxError
from inbox_finder.fileutil import UnsafeWriteError, check_writable, write_private
from inbox_finder.model import Finding

log = logging.getLogger(__name__)

FORMAT = "inbox-finder-scan-state"
VERSION = 1
LOCK_TIMEOUT = 60.0
_LOCAL_SCHEMES = frozenset({"mbox", "maildir", "eml"})
_DEFAULT_PORTS = {"imaps": 993, "imap": 143, "https": 443, "http": 80}


class StateLockedError(MailboxError):
    """Another scan held the state file's lock for longer than the lock timeout."""


def _local_path(rest: str) -> str:
    return rest[2:] if rest.startswith("//") else rest


def canonical_source(source: str) -> str:
    """``source`` in one spelling: local paths absolute and resolved, URLs normalised."""
    scheme, sep, rest = source.partition(":")
    if not sep:
        return source
    scheme = scheme.lower()
    if scheme in _LOCAL_SCHEMES:
        path = os.path.realpath(os.path.expanduser(_local_path(rest)))
        return f"{scheme}:{path}"
    if not rest.startswith("//"):
        return f"{scheme}:{rest}"
    parts = urlsplit(source)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None  # a malformed port is the provider's error to report
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@{netloc}" if user else netloc
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, parts.fragment))


def _legacy_sources(source: str) -> set[str]:
    """Spellings an older version may have keyed a state file by (the literal string)."""
    forms = {source}
    scheme, sep, rest = source.partition(":")
    if sep and scheme.lower() in _LOCAL_SCHEMES:
        given = os.path.expanduser(_local_path(rest))
        for absolute in {os.path.abspath(given), os.path.realpath(given)}:
            relative = os.path.relpath(absolute)
            forms |= {f"{scheme}:{p}" for p in (absolute, relative, f"./{relative}")}
    return forms


@dataclass
class Seen:
    """What the state remembers of one username's newest token."""

    fingerprint: str
    received: datetime


@dataclass
class ScanState:
    """In-memory scan state; ``path`` is where it lives."""

    path: Path
    salt: str = field(default_factory=lambda: secrets.token_hex(16))
    source: str | None = None
    cursor: str | None = None
    usernames: dict[str, Seen] = field(default_factory=dict)
    is_new: bool = True

    def _mac(self, value: str) -> str:
        return hmac.new(bytes.fromhex(self.salt), value.encode(), hashlib.sha256).hexdigest()

    def source_key(self, source: str) -> str:
        """The fingerprint that ties the file to one source (in its canonical spelling)."""
        return self._mac("source:" + canonical_source(source))

    def belongs_to(self, source: str) -> bool:
        """True for a new file or one keyed by ``source`` (any spelling, old files too)."""
        if self.source is None:
            return True
        spellings = {canonical_source(source)} | _legacy_sources(source)
        keys = {self._mac("source:" + s) for s in spellings}
        return any(hmac.compare_digest(self.source, key) for key in keys)

    def user_key(self, username: str | None) -> str:
        """Fingerprint of a username (case-insensitive; None for legacy mails)."""
        return self._mac("user:" + (username or "").casefold())

    def is_new_finding(self, finding: Finding) -> bool:
        """True for a username's first token, or a different token received strictly later.

        A different token with the same receive time is not new: which of two same-second
        tokens is newer cannot be told, and announcing it would let runs flip between them.
        """
        seen = self.usernames.get(self.user_key(finding.username))
        if seen is None:
            return True
        if hmac.compare_digest(seen.fingerprint, self._mac("token:" + finding.token)):
            return False
        return finding.received > seen.received

    def record(self, finding: Finding) -> None:
        """Remember ``finding`` as the newest token of its username."""
        self.usernames[self.user_key(finding.username)] = Seen(
            self._mac("token:" + finding.token), finding.received
        )

    def to_json(self) -> str:
        """The file's JSON text (see module doc)."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "salt": self.salt,
            "source": self.source,
            "cursor": self.cursor,
            "usernames": {
                k: {"fingerprint": v.fingerprint, "received": v.received.isoformat()}
                for k, v in sorted(self.usernames.items())
            },
        }
        return json.dumps(data, indent=1) + "\n"

    def save(self) -> None:
        """Write atomically (new file 0600; owner, mode and symlinks of an existing one kept)."""
        try:
            write_private(self.path, self.to_json(), create_dirs=False)
        except OSError as exc:
            raise ActionError(
                f"cannot write the state file {self.path}: {exc.strerror or exc}; the tokens "
                "just delivered will be offered again"
            ) from exc
        self.is_new = False


def _bad(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"state file {path} is {why}; move it away to start over (every current token will "
        "be reported again)"
    )


def load_state(path: Path) -> ScanState:
    """Load the state file, or a fresh state if it does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ScanState(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"unreadable ({type(exc).__name__})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(path, "corrupt (not JSON)") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _bad(path, "not an inbox-finder state file")
    if data.get("version") != VERSION:
        raise _bad(path, f"of unsupported version {data.get('version')!r}")
    try:
        bytes.fromhex(data["salt"])
        users = {
            str(k): Seen(str(v["fingerprint"]), datetime.fromisoformat(v["received"]))
            for k, v in data["usernames"].items()
        }
        cursor = data["cursor"]
        source = data["source"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(path, "corrupt (missing or malformed fields)") from exc
    if any(s.received.tzinfo is None for s in users.values()):
        raise _bad(path, "corrupt (naive times)")
    return ScanState(path, data["salt"], source, cursor, users, is_new=False)


def _lock_path(path: Path) -> Path:
    """``FILE.lock`` beside the state's real file; refused if it is a symlink, FIFO or device."""
    try:
        target = check_writable(path)
    except UnsafeWriteError as exc:
        raise ActionError(f"cannot use the state file {path}: {exc}") from exc
    lock_path = target.with_name(target.name + ".lock")
    try:
        st = os.lstat(lock_path)
    except FileNotFoundError:
        return lock_path
    if stat.S_ISLNK(st.st_mode):
        raise ActionError(f"refusing to use the lock file {lock_path}: it is a symlink")
    if stat.S_ISDIR(st.st_mode):
        raise ActionError(f"refusing to use the lock file {lock_path}: it is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ActionError(f"refusing to use the lock file {lock_path}: not a regular file")
    return lock_path


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive lock on ``FILE.lock`` beside the state's real file (bounded wait).

    The lock is filelock's native one (``flock`` on POSIX, a byte-range lock on Windows); the
    lock file is created 0600 and left in place, so waiting scans never race on a new inode.
    """
    import filelock  # lazy: ~40 ms, only scans take the lock

    lock_path = _lock_path(path)
    lock = filelock.FileLock(lock_path, mode=0o600, preserve_lock_file=True)
    try:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            log.warning("another scan holds %s; waiting up to %gs", lock_path, timeout)
            lock.acquire(timeout=timeout, poll_interval=0.2)
    except filelock.Timeout:
        raise StateLockedError(
            f"another scan has held {lock_path} for more than {timeout:g}s; giving up"
        ) from None
    except OSError as exc:
        raise ActionError(f"refusing to use the lock file {lock_path}: {exc.strerror}") from exc
    try:
        yield
    finally:
        lock.release()
