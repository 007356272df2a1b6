"""The scan state file: salted fingerprints, a sync cursor and times — never a token.

    {"format": "inbox-finder-scan-state", "version": 1, "salt": "<hex>",
     "source": "<hmac of the source>", "cursor": "<provider cursor or null>",
     "usernames": {"<hmac of username>": {"fingerprint": "<hmac of token>",
                                         "received": "<ISO 8601>"}}}

Written atomically (temp file + rename, mode 0600). A corrupt or foreign file is a ConfigError:
silently starting over would re-announce every token. An exclusive lock on ``FILE.lock``
serialises scans that share the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from inbox_finder.errors import ConfigError
from inbox_finder.fileutil import write_private
from inbox_finder.model import Finding

FORMAT = "inbox-finder-scan-state"
VERSION = 1


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
        """The fingerprint that ties the file to one source."""
        return self._mac("source:" + source)

    def user_key(self, username: str | None) -> str:
        """Fingerprint of a username (case-insensitive; None for legacy mails)."""
        return self._mac("user:" + (username or "").casefold())

    def is_new_finding(self, finding: Finding) -> bool:
        """True unless this exact token (or a newer one) is already recorded for its username."""
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
        """Write atomically with mode 0600."""
        write_private(self.path, self.to_json())
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


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``PATH.lock`` (waits for a running scan to finish)."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create lock file {lock_path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
