"""Reading message bodies ahead in batches for API providers, without losing the early stop.

The engine asks for one body at a time, newest candidate first, and stops at the answer. Most
lookups need one body: the newest candidate is the token mail. So the first body is read alone;
only when the engine asks for a second one (the first was not the answer: another username, a
reply, a rejected sender) are that candidate's and the next few candidates' bodies read in one
batch request, and each later batch is twice as large, up to the API's batch limit. A lookup
that needs n bodies therefore costs about 1 + log2(n / 8) body round trips instead of n, and
reads at most twice the bodies it needs beyond the first.

"The next few" are the candidates the provider already holds (the rest of its list page or
date slice, no extra request) whose From header names a searched sender domain: the engine
would skip the others on their headers alone, so their bodies are never read ahead. Where the
provider knows sizes (Gmail's sizeEstimate), a batch reads ahead at most ``BUDGET`` bytes: a
large mail is read alone when it is asked for, so read-ahead never holds many large mails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from inbox_finder.errors import MessageVanishedError
from inbox_finder.mail.headers import from_header_mentions
from inbox_finder.model import Candidate

#: What a batch read answers for one candidate: its bytes, or why it is gone.
Body = bytes | MessageVanishedError

#: The size of the first read-ahead batch (the second body asked for and the ones after it).
FIRST_BATCH = 8

#: Bytes a batch may read ahead beyond the body asked for (when sizes are known).
BUDGET = 8 * 1024 * 1024


class BodyPrefetch:
    """Which candidates' bodies to read together, and the bodies read ahead until asked for."""

    def __init__(
        self,
        most: int,
        first: int = FIRST_BATCH,
        *,
        size: Callable[[str], int] | None = None,
        budget: int = BUDGET,
    ) -> None:
        self._most = max(1, most)
        self._first = max(1, min(first, self._most))
        self._size_of = size or (lambda ref: 0)  # 0: unknown
        self._budget = budget
        self.reset(())

    def reset(self, domains: Iterable[str]) -> None:
        """Forget earlier searches; ``domains``: the sender domains of the new search."""
        self._domains = tuple(domains)
        self._size = self._first
        self._asked = 0
        self._ahead: dict[str, tuple[list[Candidate], int]] = {}
        self._bodies: dict[str, Body] = {}

    def note(self, candidates: Iterable[Candidate]) -> Iterator[Candidate]:
        """Yield ``candidates`` (ones already in hand), remembering their order for read-ahead."""
        held = list(candidates)
        for i, candidate in enumerate(held):
            self._ahead[candidate.ref] = (held, i)
            yield candidate

    def fetch(
        self,
        candidate: Candidate,
        one: Callable[[Candidate], bytes],
        many: Callable[[list[Candidate]], dict[str, Body]],
    ) -> bytes:
        """The body of ``candidate``: read ahead already, read alone (the first body), or read
        in one ``many`` batch with the next candidates (raises MessageVanishedError if gone)."""
        body = self._bodies.pop(candidate.ref, None)
        if body is None:
            self._asked += 1
            group = self._plan(candidate) if self._asked > 1 else [candidate]
            if len(group) == 1:
                return one(candidate)
            self._bodies.update(many(group))
            body = self._bodies.pop(candidate.ref, None)
            if body is None:  # the batch did not answer for it: read it on its own
                return one(candidate)
        if isinstance(body, MessageVanishedError):
            raise body
        return body

    def _plan(self, candidate: Candidate) -> list[Candidate]:
        group = [candidate]
        held, at = self._ahead.get(candidate.ref, ([candidate], 0))
        spent = 0
        for later in held[at + 1 :]:
            if len(group) >= self._size:
                break
            if later.ref in self._bodies:
                continue
            if later.headers is not None and not from_header_mentions(later.headers, self._domains):
                continue
            size = self._size_of(later.ref)
            if spent + size > self._budget:
                continue  # read alone if the engine ever asks for it
            spent += size
            group.append(later)
        if len(group) > 1:
            self._size = min(self._size * 2, self._most)
        return group
