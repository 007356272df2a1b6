"""Pipelined IMAP commands: several commands written at once, their answers read in order.

imapclient (and imaplib under it) waits for each command's tagged answer before sending the
next one, so every command costs a network round trip. RFC 3501 (section 5.5) lets a client
send further commands without waiting where the outcome cannot be ambiguous. The lookup uses
that twice per folder:

* ``EXAMINE`` and the ``UID SORT`` that searches the folder go out together. A failed EXAMINE
  leaves no folder selected (RFC 3501 6.3.1), so the SORT behind it fails with BAD and touches
  nothing; the caller then repeats the EXAMINE alone to report the failure as before.
* the first header batch and a partial ``BODY.PEEK[]`` of the newest candidate go out
  together, so a lookup whose newest candidate is the answer needs no further round trip.

Arguments with 8-bit bytes (``CHARSET UTF-8`` search keys) go as non-synchronizing literals
(``{n+}``, RFC 7888 LITERAL+); without LITERAL+ ``encode`` returns None and callers send the
commands one by one through imapclient, which waits for each literal's continuation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from imapclient import IMAPClient
from imapclient.imapclient import _normalise_search_criteria, _quoted
from imapclient.response_parser import parse_fetch_response, parse_message_list

log = logging.getLogger("inbox_finder.providers.imap")

# What one pipelined command is: its name (for logs) and its argument words, as bytes.
Command = tuple[str, Sequence[bytes]]
# What came back: the tagged answer's type ("OK", "NO", "BAD") and its text.
Answer = tuple[str, list[Any]]


def literal_plus(client: IMAPClient) -> bool:
    """May 8-bit arguments be sent without waiting for a continuation (RFC 7888)?"""
    return bool(client.has_capability("LITERAL+"))


def criteria_words(criteria: Sequence[Any], charset: str | None) -> list[bytes]:
    """SEARCH/SORT keys as imapclient would send them (quoted strings; 8-bit ones raw)."""
    words: list[bytes] = []
    for item in _normalise_search_criteria(list(criteria), charset):
        words.append(item.original if isinstance(item, _quoted) and _is8bit(item) else item)
    return words


def _is8bit(word: bytes) -> bool:
    return any(b > 0x7F for b in word)


def encode(tag: bytes, words: Sequence[bytes], plus: bool) -> bytes | None:
    """One command line; 8-bit words as ``{n+}`` literals (None if the server lacks LITERAL+)."""
    parts: list[bytes] = [tag]
    for word in words:
        if _is8bit(word) or b"\r" in word or b"\n" in word:
            if not plus:
                return None
            parts.append(b"{%d+}\r\n" % len(word) + word)
        else:
            parts.append(word)
    return b" ".join(parts) + b"\r\n"


def exchange(client: IMAPClient, commands: Sequence[Command]) -> list[Answer] | None:
    """Write every command in one go, then read each tagged answer in turn.

    Untagged data lands in imaplib's ``untagged_responses`` as for single commands (FETCH
    answers of both commands in one list). None when a command cannot be pipelined (8-bit
    words without LITERAL+); nothing was sent then.
    """
    imap: Any = client._imap
    plus = literal_plus(client)
    tags: list[bytes] = []
    lines: list[bytes] = []
    for _name, words in commands:
        tag = imap._new_tag()
        line = encode(tag, words, plus)
        if line is None:
            return None
        tags.append(tag)
        lines.append(line)
    imap._check_bye()
    for tag, line in zip(tags, lines, strict=True):
        imap.tagged_commands[tag] = None  # what imaplib's _command does before it sends
        if imap.debug >= 4:
            imap._mesg(f"> {line[:200]!r}")
    imap.send(b"".join(lines))
    answers: list[Answer] = []
    for (name, _), tag in zip(commands, tags, strict=True):
        try:
            typ, data = imap._get_tagged_response(tag)
        except imap.abort as exc:
            raise imap.abort(f"command: {name} => {exc}") from exc
        answers.append((str(typ), list(data)))
    imap._check_bye()
    return answers


def take_sort(client: IMAPClient) -> list[int]:
    """The UIDs of the SORT (or SEARCH) answer just read."""
    imap: Any = client._imap
    data = imap.untagged_responses.pop("SORT", None) or imap.untagged_responses.pop("SEARCH", [])
    return [int(uid) for uid in parse_message_list(data)]


def take_fetch(client: IMAPClient) -> dict[int, dict[bytes, Any]]:
    """The FETCH answers just read, by UID, items of several commands merged."""
    imap: Any = client._imap
    data = imap.untagged_responses.pop("FETCH", [None])
    parsed = parse_fetch_response(data, client.normalise_times, True)
    return {int(uid): items for uid, items in parsed.items()}


def uid_set(uids: Sequence[int]) -> bytes:
    """A UID set for a command line (ranges joined where consecutive)."""
    out: list[str] = []
    start = prev = None
    for uid in sorted(uids):
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out).encode()
