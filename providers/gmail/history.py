"""Gmail incremental sync for scans: the ``historyId`` cursor and ``users.history.list``.

``sync_cursor`` is ``gmail:<historyId>`` from ``users.getProfile`` (one call; the id moves with
every mailbox change, so an unchanged id proves no mail arrived). A later search given that
cursor reads ``users.history.list(startHistoryId=…)`` instead of searching the mailbox:

* ``historyTypes`` is ``messageAdded``, plus ``labelAdded`` when the search is restricted to
  labels (a message that gets one of them enters the scope) and ``labelRemoved`` when labels
  are excluded (a message that loses one may leave the excluded set). Since the full search
  includes SPAM and TRASH (``includeSpamTrash``), moving a message to or from them changes
  nothing it can see, and marking mail read (UNREAD removed) costs no metadata gets.
* The added ids get one ``messages.get(format=metadata)`` batch per 50 (as the full search does),
  then the full search's rules apply on the client: in the label scope, From names one of the
  sender domains (a substring test, a superset of ``from:`` like the server's), not older
  than ``since``. Candidates are yielded newest first by internalDate.
* A 404 (history older than Gmail keeps, about a week) or a 400 (a start id Gmail rejects) is
  logged at INFO and the caller runs the full search; so does a cursor that is not ours.

Cost: an idle scan is 1 API call (getProfile); a scan with n new messages is getProfile +
history pages (500 records each) + n metadata gets in ceil(n/50) batch round trips + one raw
get per likely token mail: 4 API calls in 4 round trips for one new token mail.
"""

from __future__ import annotations

import functools
import heapq
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from inbox_finder.errors import MailboxError
from inbox_finder.mail.headers import from_header_mentions
from inbox_finder.model import Candidate

from .labels import ROLES, LabelScope

log = logging.getLogger(__name__)

CURSOR_PREFIX = "gmail:"
HISTORY_PAGE_SIZE = 500  # the documented maximum; records are small
HISTORY_TYPES = ("messageAdded",)
# 404: startHistoryId is older than the history Gmail keeps. 400: an id Gmail will not take.
UNUSABLE_STATUSES = frozenset({400, 404})
_MAX_HISTORY_ID = 2**64 - 1  # historyId is a uint64 in the API reference

Call = Callable[[str, Callable[[Any], Any]], Any]


class HistoryUnavailable(MailboxError):
    """The stored history id cannot be used any more; the caller runs a full search."""


class Meta(NamedTuple):
    """What one ``messages.get(format=metadata)`` told us."""

    ms: int
    headers: bytes
    labels: frozenset[str] = frozenset()
    size: int = 0  # sizeEstimate: bytes of the message (0: not told)


def parse_meta(msg: Any) -> Meta:
    """internalDate (epoch ms), labels and a raw header block rebuilt from a metadata response."""
    ms = int(msg["internalDate"])
    lines = []
    for header in (msg.get("payload") or {}).get("headers") or []:
        name, value = str(header.get("name", "")), str(header.get("value", ""))
        if re.fullmatch(r"[!-9;-~]+", name):  # a field name, nothing that could inject lines
            value = re.sub(r"\r?\n(?![ \t])", " ", value).replace("\r", "")
            lines.append(f"{name}: {value}".replace("\n", "\r\n"))
    labels = frozenset(str(x) for x in msg.get("labelIds") or [] if isinstance(x, str))
    headers = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    size = msg.get("sizeEstimate")
    return Meta(ms, headers, labels, size if isinstance(size, int) and size > 0 else 0)


def drain(
    pending: list[tuple[int, str]],
    known: Mapping[str, Meta],
    floor_ms: int | None,
    scope: LabelScope,
) -> Iterator[Candidate]:
    """Pop ``(-internalDate, id)`` entries newest first down to ``floor_ms`` as Candidates
    (folder: the label id the finding is reported in, see labels.py)."""
    while pending and (floor_ms is None or -pending[0][0] >= floor_ms):
        neg_ms, msg_id = heapq.heappop(pending)
        received = datetime.fromtimestamp(-neg_ms / 1000, UTC)
        meta = known[msg_id]
        label = scope.folder(meta.labels)
        yield Candidate(
            ref=msg_id,
            received=received,
            received_source="server",
            headers=meta.headers,
            folder=label,
            folder_role=ROLES.get(label) if label else None,
        )


def make_cursor(history_id: object) -> str | None:
    """``gmail:<historyId>`` from a getProfile answer; None when it carries no usable id."""
    text = str(history_id) if isinstance(history_id, str | int) else ""
    return CURSOR_PREFIX + text if parse_cursor(CURSOR_PREFIX + text) is not None else None


def parse_cursor(cursor: str | None) -> int | None:
    """The history id in one of our cursors; None for anything else (another provider's too)."""
    if not cursor or not cursor.startswith(CURSOR_PREFIX):
        return None
    digits = cursor[len(CURSOR_PREFIX) :]
    if not digits.isascii() or not digits.isdigit() or int(digits) > _MAX_HISTORY_ID:
        return None
    return int(digits)


def added_ids(call: Call, user_id: str, start: int, scope: LabelScope) -> list[str]:
    """Ids of messages the full search may see now and may not have seen at ``start``.

    Raises HistoryUnavailable when Gmail no longer has (or will not give) that history.
    """
    ids: dict[str, None] = {}
    page_token: str | None = None
    while True:
        args: dict[str, Any] = {
            "userId": user_id,
            "startHistoryId": str(start),
            "historyTypes": _history_types(scope),
            "maxResults": HISTORY_PAGE_SIZE,
        }
        if page_token:
            args["pageToken"] = page_token
        resp = call("list history", functools.partial(_list_history, args, start))
        for record in resp.get("history") or []:
            if isinstance(record, dict):
                ids.update(dict.fromkeys(_record_ids(record, scope)))
        page_token = resp.get("nextPageToken") or None
        if page_token is None:
            log.debug("Gmail history since %d: %d messages to look at", start, len(ids))
            return list(ids)


def _list_history(args: dict[str, Any], start: int, api: Any) -> Any:
    from googleapiclient.errors import HttpError

    try:
        return api.users().history().list(**args).execute(num_retries=0)
    except HttpError as exc:
        status = exc.resp.status
        if status in UNUSABLE_STATUSES:
            why = "too old" if status == 404 else "not accepted"
            raise HistoryUnavailable(
                f"Gmail history from id {start} is {why} (HTTP {status})"
            ) from exc
        raise


def _history_types(scope: LabelScope) -> list[str]:
    types = list(HISTORY_TYPES)
    if scope.include:
        types.append("labelAdded")
    if scope.exclude:
        types.append("labelRemoved")
    return types


def _record_ids(record: Mapping[str, Any], scope: LabelScope) -> Iterator[str]:
    for added in record.get("messagesAdded") or []:
        yield from _message_id(added)
    for change, labels in (("labelsAdded", scope.include), ("labelsRemoved", scope.exclude)):
        for entry in record.get(change) or []:
            if isinstance(entry, dict) and set(labels) & set(entry.get("labelIds") or []):
                yield from _message_id(entry)


def _message_id(entry: object) -> Iterator[str]:
    message = entry.get("message") if isinstance(entry, dict) else None
    msg_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(msg_id, str) and msg_id:
        yield msg_id


def candidates(
    metas: Mapping[str, Meta], since_ms: int | None, domains: Iterable[str], scope: LabelScope
) -> Iterator[Candidate]:
    """The full search's rules applied to ``metas``, newest first by internalDate."""
    domains = tuple(domains)
    pending: list[tuple[int, str]] = []
    for msg_id, meta in metas.items():
        if not scope.admits(meta.labels):
            log.debug("skip %s: not in the searched labels", msg_id)
        elif not from_header_mentions(meta.headers, domains):
            log.debug("skip %s: another sender", msg_id)
        elif since_ms is None or meta.ms >= since_ms:
            heapq.heappush(pending, (-meta.ms, msg_id))
    return drain(pending, metas, None, scope)
