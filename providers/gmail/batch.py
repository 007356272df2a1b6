"""Gmail batch requests (``POST /batch/gmail/v1``): many messages.get calls in one round trip.

Google's batch guide: at most 100 calls per batch, and more than 50 are likely to be rate
limited, so a batch here holds at most ``MAX_BATCH`` (50) calls; the per-API batch URL is used
(the global ``/batch`` endpoint is discontinued). Each part answers on its own: a 404 part is a
message deleted since the list (reported, not an error); a 429, 5xx or rate-limit 403 part is
retried, with the other unfinished parts, in a new batch under the provider's retry policy,
waiting as long as the most demanding part's Retry-After asks; any other failed part raises
its error at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from inbox_finder.errors import MailboxError
from inbox_finder.net.http import Malformed
from inbox_finder.net.retry import Failure

from .api import GmailApi

log = logging.getLogger("inbox_finder.providers.gmail")

MAX_BATCH = 50  # Google: batches larger than 50 requests are likely to trigger rate limiting

_T = TypeVar("_T")
Build = Callable[[Any, str], Any]  # (service, message id) -> an HttpRequest to add
Parse = Callable[[str, Any], _T]  # (message id, JSON answer) -> what the caller keeps


def batch_get(
    api: GmailApi, ids: list[str], what: str, build: Build, parse: Parse[_T]
) -> tuple[dict[str, _T], set[str]]:
    """``build`` each id's call, run them in batches of MAX_BATCH, ``parse`` each answer.

    Returns the parsed answers by id and the ids that vanished (a 404 part).
    """
    found: dict[str, _T] = {}
    vanished: set[str] = set()
    todo, attempts = list(dict.fromkeys(ids)), api.retry.start()
    while todo:
        failed: dict[str, tuple[Failure, BaseException]] = {}
        for start in range(0, len(todo), MAX_BATCH):
            _run(api, todo[start : start + MAX_BATCH], what, build, parse, found, failed)
        todo = []
        for msg_id, (failure, exc) in failed.items():
            if failure.status == 404:
                log.debug("Gmail message %s vanished before it was read (%s)", msg_id, what)
                vanished.add(msg_id)
            elif not failure.retryable:
                raise failure.error(failure.message) from exc
            else:
                todo.append(msg_id)
        if todo:  # wait as long as the most demanding Retry-After asks
            failure, exc = max((failed[i] for i in todo), key=lambda f: f[0].retry_after or 0.0)
            attempts.retry_or_raise(failure, exc, log)
    return found, vanished


def _run(
    api: GmailApi,
    ids: list[str],
    what: str,
    build: Build,
    parse: Parse[_T],
    found: dict[str, _T],
    failed: dict[str, tuple[Failure, BaseException]],
) -> None:
    """One batch round trip (the envelope itself retried by ``api.call``)."""
    from googleapiclient.http import BatchHttpRequest

    def on_reply(msg_id: str, response: Any, exc: BaseException | None) -> None:
        if exc is None and not isinstance(response, dict):
            # googleapiclient hands back a part's body as text when it is not JSON.
            exc = Malformed(f"Gmail API {what} failed: malformed answer for {msg_id}")
        try:
            if exc is not None:
                failure = api.classify(exc, what)
                if failure is None:
                    raise exc  # a programming error: let it surface as it is
                failed[msg_id] = (failure, exc)
            else:
                found[msg_id] = parse(msg_id, response)
        except (KeyError, TypeError, ValueError) as bad:
            failure = Failure(MailboxError, f"Gmail returned an unusable answer for {msg_id}")
            failed[msg_id] = (failure, bad)
        except MailboxError as bad:
            failed[msg_id] = (Failure(MailboxError, str(bad)), bad)

    def run(service: Any) -> None:
        from googleapiclient.errors import BatchError

        for msg_id in ids:  # a retried batch starts afresh
            found.pop(msg_id, None)
            failed.pop(msg_id, None)
        # new_batch_http_request() would post to Google's batch URL whatever api_endpoint is.
        batch = BatchHttpRequest(callback=on_reply, batch_uri=api.endpoint + "/batch/gmail/v1")
        for msg_id in ids:
            batch.add(build(service, msg_id), request_id=msg_id)
        # googleapiclient refreshes for a batch with a bare httplib2.Http (no ca_file,
        # no timeout); refreshing here first keeps our transport in charge.
        api.refresh_if_needed()
        try:
            batch.execute()
        except (BatchError, KeyError, IndexError, TypeError, ValueError) as exc:
            # googleapiclient parses the multipart answer unchecked: a cut one (a part
            # missing or ending early) surfaces as any of these.
            bad = f"Gmail API {what} (batch) failed: malformed answer ({type(exc).__name__})"
            raise Malformed(bad) from exc

    api.call(f"{what} (batch)", run)
