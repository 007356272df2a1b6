"""Gmail's full search, one label at a time: date-sliced lists that prove newest-first.

messages.list is only roughly newest first and carries no dates, so the newest message is known
only once every candidate that could be newer has a date; the server's own date filter (not the
list order) is what proves that. One slice: list the first page, read its metadata in one
batch; if there is no next page the slice is complete, else pick a cutoff near the page's
oldest dates, prove the part above it complete with one more list (``after:CUTOFF``), yield
it, and go on with ``before:CUTOFF``. See provider.py for the costs.
"""

from __future__ import annotations

import heapq
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Protocol

from inbox_finder.model import Candidate

from .history import Meta, drain
from .labels import LabelScope

log = logging.getLogger(__name__)


class Lister(Protocol):
    """What a slice search needs from the provider."""

    def list_page(
        self, q: str, page_token: str | None = None, label: str | None = None
    ) -> tuple[list[str], str | None]: ...

    def list_all(
        self, q: str, page_token: str | None = None, label: str | None = None
    ) -> Iterator[list[str]]: ...

    def metadata(self, ids: list[str]) -> dict[str, Meta]: ...

    def ahead(self, candidates: Iterable[Candidate]) -> Iterator[Candidate]: ...


class SliceSearch:
    """The newest-first search of one label (None: the whole mailbox) in ``scope``."""

    def __init__(
        self,
        lister: Lister,
        base: list[str],
        since_ms: int | None,
        label: str | None,
        scope: LabelScope,
    ) -> None:
        self._lister = lister
        self._base = base
        self._since_ms = since_ms
        self._label = label
        self._scope = scope
        self._known: dict[str, Meta] = {}
        self._pending: list[tuple[int, str]] = []  # heap of (-internalDate, id) not yielded

    def run(self) -> Iterator[Candidate]:
        """Candidates strictly newest first by internalDate."""
        # after: has whole-second (and unclear inclusive) semantics: ask one second early and
        # filter on internalDate exactly.
        since_ms, label, known = self._since_ms, self._label, self._known
        floor_s = since_ms // 1000 - 1 if since_ms is not None else None
        upper: int | None = None  # the remaining slice is before:upper (seconds)
        while True:
            ids, next_token = self._lister.list_page(self._q(floor_s, upper), label=label)
            self._learn(ids)
            dates = sorted((known[i].ms for i in ids if i in known), reverse=True)
            if next_token is None or not dates:
                if next_token is not None:  # every id on the page vanished: read the slice
                    for more in self._lister.list_all(self._q(floor_s, upper), next_token, label):
                        self._learn(more)
                yield from self._lister.ahead(drain(self._pending, known, None, self._scope))
                return
            # A cutoff at the 3/4 point keeps one far-off straggler from widening the proof.
            cutoff = dates[(len(dates) * 3) // 4] // 1000
            if upper is not None and cutoff >= upper:
                cutoff = upper - 1
            after = cutoff - 1 if floor_s is None else max(cutoff - 1, floor_s)
            for more in self._lister.list_all(self._q(after, upper), label=label):
                self._learn(more)
            if after == floor_s:  # the proof covered everything down to since
                yield from self._lister.ahead(drain(self._pending, known, None, self._scope))
                return
            yield from self._lister.ahead(drain(self._pending, known, cutoff * 1000, self._scope))
            upper = cutoff

    def _learn(self, ids: Iterable[str]) -> None:
        new = [i for i in dict.fromkeys(ids) if i not in self._known]
        for msg_id, meta in self._lister.metadata(new).items():
            self._known[msg_id] = meta
            if not self._scope.admits(meta.labels):
                log.debug("skip %s: only in excluded labels", msg_id)
            elif self._since_ms is None or meta.ms >= self._since_ms:
                heapq.heappush(self._pending, (-meta.ms, msg_id))

    def _q(self, after: int | None, before: int | None) -> str:
        terms = list(self._base)
        if after is not None:
            terms.append(f"after:{after}")
        if before is not None:
            terms.append(f"before:{before}")
        return " ".join(terms)


def from_clause(domains: Iterable[str]) -> str:
    """``from:(a OR b)`` for the sender domains, characters Gmail's syntax uses removed."""
    clean = [d for d in (re.sub(r"[^A-Za-z0-9.-]", "", d).strip(".") for d in domains) if d]
    return f"from:({' OR '.join(clean)})" if clean else ""
