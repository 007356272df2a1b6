"""Searching one IMAP folder: server-side narrowing, order, header batches, a lazy stream.

Per folder: EXAMINE, then ``UID SORT (REVERSE ARRIVAL)`` on the narrowing criteria where the
server offers SORT (RFC 5256: ARRIVAL is INTERNALDATE), else ``UID SEARCH`` plus every match's
INTERNALDATE (500 per FETCH). Header blocks are fetched 25 at a time as the consumer iterates.

Across folders, ``FolderStream`` lets ``merge_newest`` order folders by their newest match
while reading little: its first ``peek`` runs the folder's SORT and fetches the INTERNALDATE of
the first UID only (the search without SORT has every date already); header batches are
fetched only when the merge consumes that folder. So a lookup in 50 folders costs per folder
with matches EXAMINE + SORT + one tiny FETCH, and header blocks only of the folder(s) that hold
the newest candidates.

Server quirks: SEARCH SINCE compares dates in the *server's* time zone, so we ask from the day
before and filter exactly on INTERNALDATE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from imapclient import IMAPClient

from inbox_finder.boundary.folders import FolderInfo, IteratorStream
from inbox_finder.boundary.provider import Query
from inbox_finder.errors import FolderNotFoundError, MailboxError
from inbox_finder.model import Candidate

from . import pipeline
from .bodies import Bodies
from .pipeline import Answer, Command
from .session import Ahead

log = logging.getLogger("inbox_finder.providers.imap")

# Header blocks per FETCH as the consumer iterates: a small first batch (the answer is nearly
# always among the newest few), then growing, so a long run of rejected candidates costs few
# round trips. Command lines stay far below server limits (UID ranges are joined).
HEADER_BATCH = 10
HEADER_GROWTH = 5
HEADER_BATCH_MAX = 250
DATE_BATCH = 500  # UIDs per FETCH INTERNALDATE (keeps command lines far below server limits)
# The newest candidate's first bytes ride along with the first header batch: a token mail is
# a few KB, so it is then already here when the engine asks for it (no further round trip).
SPECULATE_BYTES = 65536

# (folder name, what is being done, operation on the client with that folder EXAMINEd, fresh,
# the command the operation starts with, to be pipelined with the EXAMINE: see session.py)
InFolder = Callable[[str, str, Callable[[IMAPClient], Any], bool, Ahead | None], Any]


def utc(value: Any) -> datetime:
    """An INTERNALDATE as aware UTC (MailboxError for anything else)."""
    if not isinstance(value, datetime):
        raise MailboxError(f"server sent an unreadable INTERNALDATE: {value!r:.60}")
    # normalise_times=False gives aware datetimes; a naive one would be the server's UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ties_by_uid(candidates: Iterator[Candidate]) -> Iterator[Candidate]:
    """Within one INTERNALDATE second, highest UID (added last) first, as with SEARCH.

    SORT breaks ARRIVAL ties by ascending sequence number (RFC 5256); the one-candidate
    look-ahead this needs never fetches more than the next header batch.
    """
    group: list[Candidate] = []
    for candidate in candidates:
        if group and candidate.received != group[0].received:
            yield from sorted(group, key=lambda c: int(c.ref), reverse=True)
            group = []
        group.append(candidate)
    yield from sorted(group, key=lambda c: int(c.ref), reverse=True)


def _any_of(key: str, values: tuple[str, ...]) -> list[Any]:
    """``OR KEY a OR KEY b KEY c``: one of the values matches (nothing for no values)."""
    criteria: list[Any] = []
    for value in values[:-1]:
        criteria += ["OR", key, value]
    return [*criteria, key, values[-1]] if values else []


def search_criteria(query: Query) -> list[Any]:
    """Standard SEARCH keys: OR'ed FROM per sender domain, OR'ed SUBJECT per subject word
    (substring matches, as Query allows), plus SINCE the day before."""
    criteria = _any_of("FROM", query.sender_domains) + _any_of("SUBJECT", query.subject_words)
    if query.since is not None:
        criteria += ["SINCE", (query.since.astimezone(UTC) - timedelta(days=1)).date()]
    return criteria or ["ALL"]


def charset(criteria: list[Any]) -> str | None:
    """``CHARSET UTF-8`` where a search key is not ASCII (Subject words of other languages)."""
    return None if all(str(c).isascii() for c in criteria) else "UTF-8"


def gmail_raw_query(query: Query) -> str:
    """The same narrowing in Gmail search syntax for X-GM-RAW ({a b} means a OR b)."""
    froms = [f"from:{d}" for d in query.sender_domains]
    terms = [froms[0] if len(froms) == 1 else "{" + " ".join(froms) + "}"] if froms else []
    if query.since is not None:  # Gmail dates are Pacific time: one day early, filter exactly
        day = (query.since.astimezone(UTC) - timedelta(days=1)).date()
        terms.append(f"after:{day:%Y/%m/%d}")
    return " ".join(terms) or "in:anywhere"


class FolderSearch:
    """One folder's matches, newest first; ``first_uid`` limits them to UIDs from there on."""

    def __init__(
        self,
        run: InFolder,
        folder: FolderInfo,
        query: Query,
        first_uid: Callable[[], int | None],
        uidnext: Callable[[], int | None],
        take_ahead: Callable[[], list[Answer] | None],
        bodies: Bodies,
    ) -> None:
        self._run = run
        self.folder = folder
        self.query = query
        self._first_uid = first_uid
        self._uidnext = uidnext
        self._take_ahead = take_ahead
        self.uids: list[int] = []
        self.dates: dict[int, datetime] = {}
        self.bodies = bodies  # the provider's: read ahead here, taken by its fetch()

    def run(self) -> FolderSearch:
        """Search the folder (one retried unit: a reconnect repeats it, no UID is out yet)."""
        self.uids = self._run(self.folder.key, "searching", self._search, True, self._sort_ahead)
        return self

    def _sort_ahead(self, client: IMAPClient) -> list[Command] | None:
        """The UID SORT of a new search, to go out with the EXAMINE (None: not pipelined).

        Dovecot evaluates every key over the whole folder (FROM and SUBJECT alike, ~3.5 ms per
        1,000 messages each), so with SEARCHRES (RFC 5182) the sender search runs first and
        saves its result, and the SORT tests the Subject of those messages only (``UID $``).
        """
        if self.query.after_cursor is not None or client.has_capability("X-GM-EXT-1"):
            return None  # a scan's UID range needs the EXAMINE's UIDVALIDITY first
        if not client.has_capability("SORT"):
            return None
        sort = [b"UID", b"SORT", b"(REVERSE ARRIVAL)", b"UTF-8"]
        subject = _any_of("SUBJECT", self.query.subject_words)
        if subject and self.query.sender_domains and client.has_capability("SEARCHRES"):
            senders = search_criteria(replace(self.query, subject_words=()))
            save = [
                b"UID",
                b"SEARCH",
                b"RETURN",
                b"(SAVE)",
                *pipeline.criteria_words(senders, None),
            ]
            subjects = pipeline.criteria_words(subject, "UTF-8")
            return [("UID SEARCH", save), ("UID SORT", [*sort, b"UID", b"$", *subjects])]
        words = pipeline.criteria_words(search_criteria(self.query), "UTF-8")
        return [("UID SORT", [*sort, *words])]

    def _search(self, client: IMAPClient) -> list[int]:
        first_uid = self._first_uid()  # after EXAMINE: the folder's UIDVALIDITY is known
        self.dates = {}
        uidnext = self._uidnext()
        if first_uid is not None and uidnext is not None and first_uid >= uidnext:
            log.debug("nothing new in %r since the last scan", self.folder.name)
            return []
        if client.has_capability("X-GM-EXT-1"):
            raw_query = gmail_raw_query(self.query)
            if self.folder.role is not None:  # Gmail's search skips Trash and Spam unless told
                raw_query += " in:anywhere"
            log.debug("UID SEARCH X-GM-RAW %r in %r", raw_query, self.folder.name)
            return self._by_date(client, _after(client.gmail_search(raw_query), first_uid))
        criteria = search_criteria(self.query)
        if first_uid is not None:
            criteria = ["UID", f"{first_uid}:*", *criteria]
        if client.has_capability("SORT"):
            # RFC 5256: the server orders by ARRIVAL (= INTERNALDATE), so nothing is fetched
            # per match up front and the cost does not grow with the number of matches.
            log.debug("UID SORT (REVERSE ARRIVAL) %s", " ".join(map(str, criteria)))
            answers = self._take_ahead()  # sent with the EXAMINE; repeated alone if one failed
            if answers and all(typ == "OK" for typ, _ in answers):
                return _after(pipeline.take_sort(client), first_uid)
            return _after(client.sort(["REVERSE ARRIVAL"], criteria), first_uid)
        log.debug("UID SEARCH %s", " ".join(map(str, criteria)))
        found = client.search(criteria, charset(criteria))
        return self._by_date(client, _after(found, first_uid))

    def _by_date(self, client: IMAPClient, uids: list[int]) -> list[int]:
        """Without SORT: fetch every match's INTERNALDATE and order them here."""
        dated: list[tuple[datetime, int]] = []
        for start in range(0, len(uids), DATE_BATCH):
            batch = uids[start : start + DATE_BATCH]
            log.debug("UID FETCH %d messages (INTERNALDATE)", len(batch))
            response = client.fetch(batch, ["INTERNALDATE"])
            for uid, data in response.items():
                dated.append((utc(data.get(b"INTERNALDATE")), int(uid)))
        dated.sort(reverse=True)  # newest INTERNALDATE first, then highest UID
        self.dates = {uid: when for when, uid in dated}
        return [uid for _, uid in dated]

    def head_date(self) -> datetime | None:
        """INTERNALDATE of the newest match (one small FETCH unless already known)."""
        if not self.uids:
            return None
        uid = self.uids[0]
        if uid not in self.dates:
            log.debug("UID FETCH %d (INTERNALDATE) in %r", uid, self.folder.name)
            response = self.fetch("fetching INTERNALDATE", [uid], ["INTERNALDATE"])
            data = response.get(uid)
            if data is None:  # expunged meanwhile: the batch fetch will skip it
                return None
            self.dates[uid] = utc(data.get(b"INTERNALDATE"))
        return self.dates[uid]

    def candidates(self) -> Iterator[Candidate]:
        """Yield in order, fetching date and header block one batch ahead of the consumer."""
        since = self.query.since
        start, size = 0, HEADER_BATCH
        while start < len(self.uids):
            batch = self.uids[start : start + size]
            log.debug("UID FETCH %d messages (INTERNALDATE BODY.PEEK[HEADER])", len(batch))
            # A retry refetches this batch only, on a session with the same UIDVALIDITY.
            if start == 0:
                response = self._first_batch(batch)
            else:
                items = ["INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[HEADER]"]
                response = self.fetch("fetching headers", batch, items)
            start, size = start + size, min(size * HEADER_GROWTH, HEADER_BATCH_MAX)
            held: list[Candidate] = []
            older = False
            for uid in batch:
                data = response.get(uid)
                if data is None:  # expunged by another client meanwhile
                    continue
                when = utc(data.get(b"INTERNALDATE"))
                if since is not None and when < since:
                    older = True  # newest first: everything after is older still
                    break
                if isinstance(octets := data.get(b"RFC822.SIZE"), int):
                    self.bodies.sizes[(self.folder.name, uid)] = octets
                headers = data.get(b"BODY[HEADER]")
                held.append(
                    Candidate(
                        ref=str(uid),
                        received=when,
                        received_source="server",
                        headers=headers if isinstance(headers, bytes) else None,
                        folder=self.folder.name,
                        folder_role=self.folder.role,
                    )
                )
            yield from self.bodies.hold(self.folder.name, held)
            if older:
                return

    def fetch(self, doing: str, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        """UID FETCH in this folder as one retried unit (a reconnect keeps UIDVALIDITY or fails)."""
        result: dict[int, dict[bytes, Any]] = self._run(
            self.folder.key, doing, lambda client: client.fetch(uids, items), False, None
        )
        return result

    def _first_batch(self, batch: list[int]) -> dict[int, dict[bytes, Any]]:
        """The first header batch and, in the same write, the newest candidate's first bytes."""
        newest = batch[0]
        heads: Command = ("UID FETCH", [b"UID", b"FETCH", pipeline.uid_set(batch), _HEAD_ITEMS])
        body: Command = ("UID FETCH", [b"UID", b"FETCH", b"%d" % newest, _BODY_ITEMS])

        def both(client: IMAPClient) -> dict[int, dict[bytes, Any]]:
            client._imap.untagged_responses.pop("FETCH", None)  # unsolicited flag updates
            answers = pipeline.exchange(client, [body, heads])
            if answers is None or any(typ != "OK" for typ, _ in answers):
                items = ["INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[HEADER]"]
                return dict(client.fetch(batch, items))
            return pipeline.take_fetch(client)

        # A retry repeats both commands (a cut message is fetched again, whole).
        result: dict[int, dict[bytes, Any]] = self._run(
            self.folder.key, "fetching a message", both, False, None
        )
        data = result.get(newest, {})
        whole, size = data.get(b"BODY[]<0>"), data.get(b"RFC822.SIZE")
        if isinstance(whole, bytes) and isinstance(size, int) and len(whole) == size:
            self.bodies.ahead[(self.folder.name, newest)] = whole
        return result


_HEAD_ITEMS = b"(INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"
_BODY_ITEMS = b"(RFC822.SIZE BODY.PEEK[]<0.%d>)" % SPECULATE_BYTES


def _after(uids: list[Any], first_uid: int | None) -> list[int]:
    found = [int(u) for u in uids]
    log.debug("%d messages match on the server", len(found))
    if first_uid is None:
        return found
    # "N:*" always includes the highest UID, even one below N: filter exactly.
    return [u for u in found if u >= first_uid]


class FolderStream:
    """A merge stream over one folder: cheap head peek first, header batches once consumed."""

    def __init__(self, search: FolderSearch) -> None:
        self._search = search
        self._started = False
        self._head: datetime | None = None
        self._inner: IteratorStream | None = None

    def peek(self) -> datetime | None:
        if self._inner is not None:
            return self._inner.peek()
        if not self._started:
            self._started = True
            try:
                self._search.run()
            except FolderNotFoundError:  # deleted since the LIST: nothing left to search
                log.info("folder %r vanished during the search", self._search.folder.name)
                return None
            self._head = self._search.head_date()
            since = self._search.query.since
            if self._head is not None and since is not None and self._head < since:
                self._head = None  # even the newest match is older than --since
        return self._head

    def settle(self) -> None:
        """Load the first header batch, so ``peek`` is the exact next candidate."""
        if self._inner is None and self.peek() is not None:
            self._inner = IteratorStream(ties_by_uid(self._search.candidates()))

    def pop(self) -> Candidate:
        self.settle()
        if self._inner is None:
            raise IndexError("pop from an exhausted folder stream")
        return self._inner.pop()
