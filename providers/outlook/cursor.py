"""Scan cursors of the Outlook provider: what a search after an earlier scan may skip.

``sync_cursor`` is ONE list call (same scope and senders, ``$top=10``, newest first; one per
named folder when ``--folder`` restricts the search):
``graph:<scope hash>:<newest receivedDateTime>:<hashes of the ids of that second>``. A search
after it adds ``receivedDateTime ge <that time - DELIVERY_SLACK>`` and skips the named ids (the
scan that took the cursor searched them). Idle scan: 1 Graph call; a new token mail: 3 (cursor,
list, $value). Not the ``messages/delta`` link: ``sync_cursor()`` gets no stored state, so it
could not replay a stored deltaLink (the one cheap delta call) and a fresh round's link would
not compare equal; a first round pages the whole folder (delta's ``$filter`` takes only
``receivedDateTime ge|gt``, no sender); there is no delta for the whole mailbox (``/messages``,
the default scope); and delta also reports read/unread changes. The whole mailbox includes
Deleted Items and Junk Email, so moving mail between folders brings nothing new into it. Gap,
only when ``--folder`` restricts the scan: mail moved into a named folder later keeps its older
receivedDateTime, so the scan misses it unless it is the newest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CURSOR_PREFIX = "graph:"
CURSOR_TIME = "%Y%m%dT%H%M%SZ"
# Searches after a cursor start this much before its time: deliveries can become visible a
# little out of receivedDateTime order, and a superset costs only a header check.
DELIVERY_SLACK = timedelta(minutes=5)
CURSOR_PROBE = 10  # newest messages the cursor reads: ids of the same second tell mails apart


@dataclass(frozen=True)
class After:
    """A usable cursor: search from ``floor`` (None: everything), skip the ids hashed in seen."""

    floor: datetime | None
    seen: frozenset[str]


def id_hash(ref: str) -> str:
    """The short hash a cursor names a message id by."""
    return hashlib.sha256(ref.encode()).hexdigest()[:12]


def scope_hash(folder: str, senders: Iterable[str]) -> str:
    """Tags a cursor with what the search covers: the folder and the sender filter."""
    what = "\n".join([folder.lower(), *senders])
    return hashlib.sha256(what.encode()).hexdigest()[:8]


def make_cursor(scope: str, dated: Sequence[tuple[datetime, str]]) -> str:
    """The cursor for a search ``scope`` whose newest messages are ``dated`` (received, id)."""
    if not dated:
        return f"{CURSOR_PREFIX}{scope}:empty"
    newest = max(when for when, _ in dated)
    tied = sorted({id_hash(ref) for when, ref in dated if when == newest})
    return f"{CURSOR_PREFIX}{scope}:{newest.strftime(CURSOR_TIME)}:{'.'.join(tied)}"


def parse_cursor(cursor: str | None, scope: str) -> After | None:
    """What a search after ``cursor`` may skip; None when the cursor is not usable here."""
    parts = (cursor or "").split(":")
    if len(parts) < 3 or parts[0] + ":" != CURSOR_PREFIX or parts[1] != scope:
        return None  # another provider's, another folder's or sender filter's, or garbage
    if parts[2:] == ["empty"]:
        return After(None, frozenset())  # everything in the folder is new
    if len(parts) != 4:
        return None
    try:
        when = datetime.strptime(parts[2], CURSOR_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None
    return After(when - DELIVERY_SLACK, frozenset(parts[3].split(".")))
