"""Whole messages for the engine: read ahead with the headers, or in batches when it asks.

The engine asks for one body at a time, newest candidate first, and stops at the answer.

* The newest candidate of a folder comes with its first header batch (search.py), so the
  common lookup, whose newest candidate is the token mail, needs no round trip for it.
* When the engine asks for another, ``inbox_finder.boundary.prefetch.BodyPrefetch`` decides:
  that body alone, then the next one asked for and the next candidates of the same batch whose
  From names a searched domain in one ``UID FETCH`` (8, then twice as many, up to
  ``BATCH_MAX``), within ``BUDGET`` bytes of RFC822.SIZE. A run of 22 trusted notifications
  whose subject names a token (Connected App "refresh token" mail) costs 4 fetches, not 23.

UIDs are unique per folder only, so there is one BodyPrefetch per folder. Every body comes
from a session whose UIDVALIDITY matches the search's (session.py), and ``forget`` drops
what a closed provider held, so a later fetch re-checks UIDVALIDITY.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from inbox_finder.boundary.prefetch import Body, BodyPrefetch
from inbox_finder.errors import MessageVanishedError
from inbox_finder.model import Candidate

log = logging.getLogger("inbox_finder.providers.imap")

BATCH_MAX = 50  # messages per UID FETCH of whole bodies
BUDGET = 8 * 1024 * 1024  # bytes a batch may read ahead beyond the body asked for

# (folder, what is being done, operation on the client with that folder EXAMINEd)
InFolder = Callable[[str, str, Callable[[Any], Any]], Any]


class Bodies:
    """Bodies read ahead (with headers or in batches) and the reads of the others."""

    def __init__(self, run: InFolder) -> None:
        self._run = run
        self.forget(())

    def forget(self, domains: Iterable[str]) -> None:
        """Drop everything held (a new search or a closed connection)."""
        self._domains = tuple(domains)
        self.ahead: dict[tuple[str, int], bytes] = {}  # (folder name, UID): whole message
        self.sizes: dict[tuple[str, int], int] = {}  # RFC822.SIZE from the header batches
        self._folders: dict[str, BodyPrefetch] = {}

    def _prefetch(self, folder: str) -> BodyPrefetch:
        found = self._folders.get(folder)
        if found is None:
            size = lambda ref: self.sizes.get((folder, int(ref)), 0)  # noqa: E731
            found = self._folders[folder] = BodyPrefetch(BATCH_MAX, size=size, budget=BUDGET)
            found.reset(self._domains)
        return found

    def hold(self, folder: str, batch: list[Candidate]) -> Iterator[Candidate]:
        """Yield one header batch's candidates, remembering their order for read-ahead."""
        return self._prefetch(folder).note(batch)

    def fetch(self, folder: str, candidate: Candidate) -> bytes:
        """The whole message: held already, read alone, or read with the next candidates."""
        held = self.ahead.pop((folder, int(candidate.ref)), None)
        if held is not None:  # came with the first header batch (search.py), not counted:
            log.debug("UID %s in %r: already fetched with the headers", candidate.ref, folder)
            return held  # the next body asked for is read alone, batches start after that
        return self._prefetch(folder).fetch(
            candidate, lambda c: self._one(folder, c), lambda cs: self._many(folder, cs)
        )

    def _one(self, folder: str, candidate: Candidate) -> bytes:
        log.debug("UID FETCH %s (BODY.PEEK[]) in %r", candidate.ref, folder)
        got = self._many(folder, [candidate])[candidate.ref]
        if isinstance(got, MessageVanishedError):
            raise got
        return got

    def _many(self, folder: str, candidates: list[Candidate]) -> dict[str, Body]:
        """One UID FETCH (BODY.PEEK[]) for these candidates (held ones are not read again)."""
        out: dict[str, Body] = {}
        wanted: list[int] = []
        for candidate in candidates:
            held = self.ahead.pop((folder, int(candidate.ref)), None)
            if held is not None:
                out[candidate.ref] = held
            else:
                wanted.append(int(candidate.ref))
        if wanted:
            if len(wanted) > 1:
                log.debug("UID FETCH %d messages (BODY.PEEK[]) in %r", len(wanted), folder)
            # A literal cut short raises in imaplib (EOF/reset), so a partial message is never
            # returned: the batch is fetched again on a fresh connection.
            response = self._run(
                folder, "fetching a message", lambda client: client.fetch(wanted, ["BODY.PEEK[]"])
            )
            for uid in wanted:
                body = response.get(uid, {}).get(b"BODY[]")
                out[str(uid)] = (
                    body
                    if isinstance(body, bytes)
                    else MessageVanishedError(f"message UID {uid} is gone from {folder!r}")
                )
        return out
