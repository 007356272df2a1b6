"""Run work on many sources with two limits: ``jobs`` at once, and ``per_host`` per server.

Mail servers limit connections (Dovecot: ``mail_max_userip_connections`` = 10 per user and
IP, ``default_process_limit`` = 100 processes per service; Gmail IMAP: 15 per account;
Microsoft Graph: 4 concurrent requests per app and mailbox), so ``--jobs 32`` over sources on
one server must not open 32 connections to it. ``run_capped`` starts ``jobs`` worker threads;
each takes the next source whose server has a free slot, so sources on other servers go on
while one server is full, and no thread waits holding a slot. Threads, not one per source:
memory stays bounded by ``jobs`` whatever the number of sources.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
R = TypeVar("R")

#: Sources on one server searched at once unless ``[run] per_host`` says otherwise: below
#: Dovecot's 10 connections per user and IP (sources that share a login) and Gmail's 15 per
#: account, leaving room for the user's own mail clients.
DEFAULT_PER_HOST = 8
_LOCAL_SCHEMES = frozenset({"mbox", "maildir", "eml", "memory"})
_HOST_SCHEMES = frozenset({"imap", "imaps"})


def host_of(url: str) -> str | None:
    """The server a source URL talks to: None for local files (no limit).

    IMAP: the host name (any port: one server). Gmail, Outlook and other API schemes: the
    scheme, since every mailbox of one API is served by the same endpoint.
    """
    scheme, sep, rest = url.strip().partition(":")
    scheme = scheme.lower()
    if not sep or scheme in _LOCAL_SCHEMES:
        return None
    if scheme in _HOST_SCHEMES and rest.startswith("//"):
        try:
            host = urlsplit(url.strip()).hostname
        except ValueError:
            host = None  # a malformed URL fails in its provider, with its own message
        return f"{scheme[:4]}://{host}" if host else scheme
    return scheme


class _Slots:
    """The queue of items per server and how many of each server's items are running."""

    def __init__(self, keys: Sequence[str | None], per_host: int) -> None:
        self.per_host = per_host
        self.queues: dict[str | None, deque[int]] = {}
        for index, key in enumerate(keys):
            self.queues.setdefault(key, deque()).append(index)
        self.busy: Counter[str | None] = Counter()
        self.cond = threading.Condition()
        self.left = len(keys)

    def take(self) -> tuple[str | None, int] | None:
        """The next item whose server has a free slot (waits for one); None when all taken."""
        with self.cond:
            while self.left:
                # Servers in the order they first appear; emptied queues are dropped and at
                # most jobs / per_host servers are full, so this finds one in a few steps.
                for key in self.queues:
                    if key is None or self.busy[key] < self.per_host:
                        break
                else:
                    self.cond.wait()  # every server with sources left is at its cap
                    continue
                queue = self.queues[key]
                index = queue.popleft()
                if not queue:
                    del self.queues[key]
                self.busy[key] += 1
                self.left -= 1
                return key, index
            return None

    def done(self, key: str | None) -> None:
        with self.cond:
            self.busy[key] -= 1
            self.cond.notify_all()


def run_capped(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    jobs: int,
    per_host: int,
    host: Callable[[T], str | None],
) -> list[R]:
    """``work(item)`` for every item, ``jobs`` at once, ``per_host`` per server; input order."""
    slots = _Slots([host(item) for item in items], max(1, per_host))
    results: dict[int, R] = {}
    errors: list[BaseException] = []

    def worker() -> None:
        while (got := slots.take()) is not None:
            key, index = got
            try:
                results[index] = work(items[index])
            except BaseException as exc:  # re-raised in the caller's thread below
                errors.append(exc)
            finally:
                slots.done(key)

    threads = [
        threading.Thread(target=worker, name=f"source-{n}", daemon=True)
        for n in range(max(1, min(jobs, len(items))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [results[index] for index in range(len(items))]
