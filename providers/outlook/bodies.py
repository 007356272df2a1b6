"""Many messages' raw MIME in one Graph JSON batch (``POST /$batch`` of ``GET .../$value``).

Graph's JSON batching takes at most 20 requests per batch, answers each with its own status,
headers and body, and returns a body that is not JSON (a ``$value`` download) base64-encoded,
its part's Content-Type naming the original type. Each part is judged on its own: a 404 is a
message deleted since the list (reported as vanished, as a single ``$value`` would be); a 408,
429 or 5xx part is sent again, with the other unfinished parts, in a new batch under the
provider's retry policy, waiting as long as the most demanding part's Retry-After asks; a 401
or 403 part is an AuthError and any other failed part a MailboxError at once.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from inbox_finder.boundary.prefetch import Body
from inbox_finder.errors import AuthError, MailboxError, MessageVanishedError
from inbox_finder.net import http
from inbox_finder.net.retry import Failure

from .graph import json_object

if TYPE_CHECKING:
    from .graph import GraphClient

log = logging.getLogger("inbox_finder.providers.outlook")

MAX_BATCH = 20  # Graph's JSON batching limit


def fetch_bodies(
    graph: GraphClient, endpoint: str, root: str, refs: list[str], source: str
) -> dict[str, Body]:
    """The raw MIME of each of ``refs`` (at most MAX_BATCH), or the error saying it vanished."""
    out: dict[str, Body] = {}
    todo, attempts = list(dict.fromkeys(refs))[:MAX_BATCH], graph.retry.start()
    while todo:
        requests = [
            {"id": str(n), "method": "GET", "url": f"{root}/messages/{quote(ref, safe='=')}/$value"}
            for n, ref in enumerate(todo)
        ]
        answer = graph.get(
            f"{endpoint}/$batch",
            None,
            what="fetch",
            decode=json_object,
            json_body={"requests": requests},
        )
        parts = {str(r.get("id")): r for r in answer.get("responses") or [] if isinstance(r, dict)}
        again: list[tuple[str, Failure]] = []
        for n, ref in enumerate(todo):
            got = _part(parts.get(str(n)), ref, source)
            if isinstance(got, Failure):
                again.append((ref, got))
            else:
                out[ref] = got
        todo = [ref for ref, _ in again]
        if again:  # wait as long as the most demanding Retry-After asks
            worst = max((f for _, f in again), key=lambda f: f.retry_after or 0.0)
            attempts.retry_or_raise(worst, None, log)
    return out


def _part(part: dict[str, Any] | None, ref: str, source: str) -> Body | Failure:
    """One batch part: the bytes, a vanished message, or a Failure to retry (others raise)."""
    if part is None:
        return Failure(MailboxError, f"Graph's batch answer left out message {ref}", True)
    status = part.get("status")
    headers = part.get("headers")
    headers = headers if isinstance(headers, dict) else {}
    body = part.get("body")
    if status == 200:
        if not isinstance(body, str):
            return Failure(MailboxError, f"Graph's batch answer for {ref} had no body", True)
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return Failure(MailboxError, f"Graph's batch answer for {ref} was not base64", True)
    if not isinstance(status, int) or not 300 <= status < 600:
        return Failure(MailboxError, f"Graph's batch answer for {ref} had no status", True)
    code, message = _error(body)
    detail = f"HTTP {status}, {code}: {message}" if code else f"HTTP {status}"
    if status == 404:
        return MessageVanishedError(f"message vanished from {source} before it was read ({detail})")
    retry_after = next((str(v) for k, v in headers.items() if k.lower() == "retry-after"), None)
    failure = http.status_failure(
        status, f"Graph answered HTTP {status} (throttled or unavailable)", retry_after=retry_after
    )
    if failure.retryable:
        return failure
    if status in (401, 403):
        raise AuthError(f"Graph denied reading a message of {source} ({detail})")
    raise MailboxError(f"Graph request for {source} failed ({detail})")


def _error(body: Any) -> tuple[str, str]:
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return "", ""
    lines = str(err.get("message", "")).strip().splitlines()
    return str(err.get("code", "")), (lines[0][:200] if lines else "")
