"""``memory:NAME``: raw messages held in memory — the reference provider for docs and tests.

A program (a test, a demo, a tool that already holds the mail) fills a ``MemoryStore`` with raw
RFC 822 messages and their receive times, registers it under a name, and opens it as
``memory:NAME`` like any other source::

    store = register_store("demo")
    store.add(raw_bytes, datetime(2024, 6, 1, 9, 30, tzinfo=UTC))
    find_token("memory:demo")

It implements every hook of the provider boundary in a few lines each: newest-first search
narrowed by sender and ``since``, fetch, a cheap sync cursor with incremental search (a store
*generation* plays the part of IMAP's UIDVALIDITY), and push notification for ``watch``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from inbox_finder.boundary.provider import Provider, Query, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError, MessageVanishedError
from inbox_finder.mail.headers import from_header_mentions, header_block
from inbox_finder.model import Candidate, require_aware

SCHEME = "memory"


@dataclass(frozen=True)
class StoredMessage:
    """One message of a store: its sequence number (the ref), receive time and raw bytes."""

    seq: int
    received: datetime
    raw: bytes


class MemoryStore:
    """Raw messages with receive times; thread-safe, so a ``watch`` can run beside writers."""

    def __init__(self, messages: Iterable[tuple[bytes, datetime]] = ()) -> None:
        self._changed = threading.Condition()
        self._messages: dict[int, StoredMessage] = {}
        self._next_seq = 1
        # Random, so a cursor saved by another process never matches a new store by chance.
        self.generation = secrets.token_hex(4)
        for raw, received in messages:
            self.add(raw, received)

    def add(self, raw: bytes, received: datetime) -> str:
        """Deliver one message; returns its ref. ``received`` must be timezone-aware."""
        when = require_aware(received, "received")
        with self._changed:
            seq = self._next_seq
            self._messages[seq] = StoredMessage(seq, when, bytes(raw))
            self._next_seq += 1
            self._changed.notify_all()
        return str(seq)

    def remove(self, ref: str) -> None:
        """Delete one message (a later fetch of it raises MessageVanishedError)."""
        if not ref.isdigit():
            return
        with self._changed:
            self._messages.pop(int(ref), None)
            self._changed.notify_all()

    def recreate(self, messages: Iterable[tuple[bytes, datetime]] = ()) -> None:
        """Replace every message and start a new generation: old cursors no longer apply."""
        with self._changed:
            self._messages.clear()
            self._next_seq = 1
            self.generation = secrets.token_hex(4)
        for raw, received in messages:
            self.add(raw, received)

    def snapshot(self) -> tuple[str, int, list[StoredMessage]]:
        """(generation, next sequence number, messages) at one instant."""
        with self._changed:
            return self.generation, self._next_seq, list(self._messages.values())

    def get(self, ref: str) -> StoredMessage | None:
        """The message with this ref, or None if it was removed (or never existed)."""
        with self._changed:
            return self._messages.get(int(ref)) if ref.isdigit() else None

    def wait(self, state: tuple[str, int], timeout: float) -> bool:
        """Wait up to ``timeout`` s for a change from ``state`` (generation, next seq)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: (self.generation, self._next_seq) != state, timeout
            )

    def __len__(self) -> int:
        with self._changed:
            return len(self._messages)


_STORES: dict[str, MemoryStore] = {}
_STORES_LOCK = threading.Lock()


def register_store(name: str, store: MemoryStore | None = None) -> MemoryStore:
    """Make ``store`` (a new empty one by default) the mailbox ``memory:NAME`` opens."""
    if not name or "/" in name:
        raise ValueError(f"not a memory store name: {name!r}")
    store = MemoryStore() if store is None else store
    with _STORES_LOCK:
        _STORES[name] = store
    return store


def unregister_store(name: str) -> None:
    """Forget the store registered as ``name`` (no error if there is none)."""
    with _STORES_LOCK:
        _STORES.pop(name, None)


def get_store(name: str) -> MemoryStore:
    """The store registered as ``name``; ConfigError naming the registered ones."""
    with _STORES_LOCK:
        store = _STORES.get(name)
        known = ", ".join(sorted(_STORES)) or "none"
    if store is None:
        raise ConfigError(f"no memory store named {name!r} (registered: {known})")
    return store


def parse_memory_url(url: str) -> tuple[str, str]:
    """(scheme, NAME) of ``memory:NAME`` (``memory://NAME`` too); ConfigError without a NAME.

    The scheme is whatever the registry matched, so a subclass may serve another one.
    """
    scheme, rest = split_scheme(url)
    name = rest[2:] if rest.startswith("//") else rest
    if not name or "/" in name:
        raise ConfigError(f"not a memory source: {url!r} (expected {scheme}:NAME)")
    return scheme, name


class MemoryProvider(Provider):
    """A registered ``MemoryStore``, read-only through the provider boundary."""

    kind = "memory store"

    def __init__(self, store: MemoryStore, name: str, scheme: str = SCHEME) -> None:
        self.store = store
        self.name = name
        self.scheme = scheme

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        scheme, name = parse_memory_url(url)
        return cls(get_store(name), name, scheme)

    @property
    def source(self) -> str:
        return f"{self.scheme}:{self.name}"

    def sync_cursor(self) -> str:
        """``memory:GENERATION:NEXT_SEQ``: any delivery moves it, a recreate changes it."""
        generation, next_seq, _ = self.store.snapshot()
        return f"{SCHEME}:{generation}:{next_seq}"

    def search(self, query: Query) -> Iterator[Candidate]:
        generation, _, messages = self.store.snapshot()
        first = _first_new_seq(query.after_cursor, generation)
        picked = []
        for msg in messages:
            if msg.seq < first or (query.since is not None and msg.received < query.since):
                continue
            block = header_block(msg.raw)
            if from_header_mentions(block, query.sender_domains):
                picked.append(Candidate(str(msg.seq), msg.received, "server", block))
        # Newest first; among equal times the later delivery first (a stable order).
        picked.sort(key=lambda c: (c.received, int(c.ref)), reverse=True)
        yield from picked

    def fetch(self, candidate: Candidate) -> bytes:
        msg = self.store.get(candidate.ref)
        if msg is None:
            raise MessageVanishedError(f"message {candidate.ref} is gone from {self.source}")
        return msg.raw

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool:
        """True as soon as a message is added or the store recreated; False after ``timeout``."""
        generation, next_seq, _ = self.store.snapshot()
        deadline = timeout
        while deadline > 0 and not stop.is_set():
            step = min(deadline, 0.2)  # short waits, so ``stop`` is noticed promptly
            if self.store.wait((generation, next_seq), step):
                return True
            deadline -= step
        return False


def _first_new_seq(cursor: str | None, generation: str) -> int:
    """The first sequence number added after ``cursor``; 0 (everything) if it does not apply."""
    parts = (cursor or "").split(":")
    if len(parts) != 3 or parts[0] != SCHEME or parts[1] != generation or not parts[2].isdigit():
        return 0
    return int(parts[2])
