"""Which folders a search covers, and the exact newest-first merge across them.

A source means the whole mailbox — every folder, archive, trash and junk — unless the user
restricts it: a folder in the URL, ``--folder NAME`` (profile key ``folders``) or
``--exclude-folder NAME`` (profile key ``exclude_folders``). Every provider lists its folders
as ``FolderInfo`` and lets ``resolve`` pick the searched ones, so names match the same way
everywhere and a name that matches nothing is a FolderNotFoundError listing what exists.

``merge_newest`` merges per-folder candidate streams, each newest first, into one stream that
is newest first across folders. A stream reports the receive time of its next candidate
(``peek``) before handing it out (``pop``), so a provider can make ``peek`` cheap (IMAP: one
INTERNALDATE) and read header blocks only for the stream the merge is consuming.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from inbox_finder.errors import ConfigError, FolderNotFoundError, MailboxError
from inbox_finder.model import Candidate, FolderRole

LISTED = 20  # folders named in a FolderNotFoundError

# Leaf names (case-insensitive) of folders whose mail was deleted or filtered as junk, for
# mailboxes that do not mark them (IMAP without SPECIAL-USE, Maildir, mbox directories).
TRASH_NAMES = frozenset({"trash", "deleted items", "deleted messages", "deleted", "bin"})
JUNK_NAMES = frozenset({"junk", "junk e-mail", "junk email", "spam", "bulk mail"})


def role_from_name(name: str, separator: str = "/") -> FolderRole | None:
    """``trash`` or ``junk`` when the folder's last name component says so, else None."""
    leaf = name.rsplit(separator, 1)[-1].strip().casefold() if separator else name.casefold()
    if leaf in TRASH_NAMES:
        return "trash"
    if leaf in JUNK_NAMES:
        return "junk"
    return None


@dataclass(frozen=True)
class FolderScope:
    """Folder names to search (empty: the whole mailbox) and folder names to skip."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> FolderScope:
        """A scope from user input; ConfigError for an empty or non-string name."""
        return cls(_names(include, "folder"), _names(exclude, "excluded folder"))

    @property
    def whole(self) -> bool:
        """True when nothing restricts the search."""
        return not self.include and not self.exclude


def _names(values: Iterable[str], what: str) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{what} names must be non-empty strings, not {value!r}")
        if value not in out:
            out.append(value)
    return tuple(out)


@dataclass(frozen=True)
class FolderInfo:
    """One folder as a provider lists it.

    ``name`` is what the user sees and types; ``key`` is the provider's own handle (IMAP name,
    Graph id, Gmail label id, a path); ``aliases`` are other accepted spellings (well-known
    names, the path with ``/`` instead of the server's separator).
    """

    name: str
    key: str = ""
    role: FolderRole | None = None
    aliases: tuple[str, ...] = ()

    def spellings(self) -> tuple[str, ...]:
        """Every name this folder answers to."""
        return (self.name, *self.aliases)


def find_folder(name: str, available: Sequence[FolderInfo]) -> FolderInfo | None:
    """The folder called ``name``: exact spelling first, then the one case-insensitive match."""
    for folder in available:
        if name in folder.spellings():
            return folder
    wanted = name.casefold()
    hits = [f for f in available if any(s.casefold() == wanted for s in f.spellings())]
    return hits[0] if len(hits) == 1 else None


def missing_folder(name: str, available: Sequence[FolderInfo], where: str) -> FolderNotFoundError:
    """The error for a folder name that matches nothing, listing the folders that exist."""
    names = [f.name for f in available]
    shown = ", ".join(repr(n) for n in names[:LISTED])
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    listing = f"; its folders are {shown}{more}" if names else "; it lists no folders"
    return FolderNotFoundError(f"folder {name!r} does not exist in {where}{listing}")


def resolve(
    available: Sequence[FolderInfo], scopes: Iterable[FolderScope], where: str
) -> list[FolderInfo]:
    """The folders every scope selects, in ``available`` order (trash and junk last).

    Each name in a scope must match a folder, else FolderNotFoundError naming it.
    """
    chosen = list(available)
    for scope in scopes:
        included = [_need(n, available, where) for n in scope.include]
        excluded = [_need(n, available, where) for n in scope.exclude]
        if included:
            chosen = [f for f in chosen if f in included]
        chosen = [f for f in chosen if f not in excluded]
    # Ties in receive time go to the earlier folder: a copy outside trash and junk wins.
    return sorted(chosen, key=lambda f: f.role is not None)


def _need(name: str, available: Sequence[FolderInfo], where: str) -> FolderInfo:
    found = find_folder(name, available)
    if found is None:
        raise missing_folder(name, available, where)
    return found


class Stream(Protocol):
    """One folder's candidates, newest first."""

    def peek(self) -> datetime | None:
        """Receive time of the next candidate (None: exhausted); may do cheap I/O."""

    def settle(self) -> None:
        """Make ``peek`` exact (a cheap peek may be a guess: IMAP's head INTERNALDATE)."""

    def pop(self) -> Candidate:
        """The next candidate; its ``received`` equals what ``peek`` said after ``settle``."""


class IteratorStream:
    """A Stream over a newest-first candidate iterator (peeking pulls one candidate)."""

    def __init__(self, candidates: Iterator[Candidate]) -> None:
        self._it = candidates
        self._next: Candidate | None = None
        self._done = False

    def peek(self) -> datetime | None:
        if self._next is None and not self._done:
            self._next = next(self._it, None)
            self._done = self._next is None
        return None if self._next is None else self._next.received

    def settle(self) -> None:
        """Nothing to do: peeking already pulled the next candidate."""

    def pop(self) -> Candidate:
        if self.peek() is None or self._next is None:
            raise IndexError("pop from an exhausted stream")
        found, self._next = self._next, None
        return found


def merge_newest(streams: Sequence[Stream]) -> Iterator[Candidate]:
    """Candidates of all ``streams`` strictly newest first (ties: the earlier stream first).

    Each stream is peeked once up front; after that only the stream at the top is touched, and
    only when the caller asks for the next candidate. A stream whose settled peek differs from
    its cheap one (a message expunged meanwhile, one older than --since) is put back in place.
    """
    heap: list[tuple[_Desc, int]] = []
    for index, stream in enumerate(streams):
        when = stream.peek()
        if when is not None:
            heap.append((_Desc(when), index))
    heapq.heapify(heap)
    last: datetime | None = None
    while heap:
        key, index = heapq.heappop(heap)
        stream = streams[index]
        stream.settle()
        when = stream.peek()
        if when is None:
            continue
        if when != key.when:
            heapq.heappush(heap, (_Desc(when), index))
            continue
        candidate = stream.pop()
        if last is not None and candidate.received > last:
            raise MailboxError(
                f"folder {candidate.folder!r} returned message {candidate.ref} out of order "
                f"(received {candidate.received.isoformat()}, after {last.isoformat()})"
            )
        last = candidate.received
        yield candidate
        when = stream.peek()
        if when is not None:
            heapq.heappush(heap, (_Desc(when), index))


class _Desc:
    """Orders datetimes newest first in a min-heap."""

    __slots__ = ("when",)

    def __init__(self, when: datetime) -> None:
        self.when = when

    def __lt__(self, other: _Desc) -> bool:
        return self.when > other.when

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.when == other.when

    def __hash__(self) -> int:
        return hash(self.when)
