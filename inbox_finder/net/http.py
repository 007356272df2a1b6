"""HTTP answers and transport failures, classified once for Gmail, Graph and the token endpoints.

Status table (``classify_status``; the providers word the messages and refine NOT_FOUND):

    status                               kind          error           retried
    2xx                                  OK            -               -
    1xx, 3xx (redirects are not followed) UNEXPECTED   MailboxError    no
    401                                  AUTH          AuthError       no (Gmail: one token refresh)
    403 with a rate-limit reason         THROTTLED     MailboxError    yes
    403                                  FORBIDDEN     AuthError       no
    404                                  NOT_FOUND     MailboxError*   no
    408, 429                             THROTTLED     MailboxError    yes, honouring Retry-After
    other 4xx                            REJECTED      MailboxError    no
    501, 505 (can never work here)       REJECTED      MailboxError    no
    other 5xx                            UNAVAILABLE   MailboxError    yes, honouring Retry-After
    anything else                        UNEXPECTED    MailboxError    no

    * a provider turns NOT_FOUND into MessageVanishedError (a message deleted meanwhile),
      FolderNotFoundError or ConfigError (no such mailbox: fixed only by editing the SOURCE).

Transport failures (``classify_transport``), found anywhere in the exception's chain:
TIMEOUT (no complete answer within the deadline) and CUT (an answer cut short, a reset, a
dropped connection) are retried on a fresh connection; TLS (certificate or handshake) and
UNREACHABLE (refused, unknown host, no route) are not: repeating them in seconds cannot help.
A 200 whose body cannot be parsed is MALFORMED, retried like a cut answer.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum

from inbox_finder.errors import AuthError, InboxFinderError, MailboxError

from . import tls
from .retry import Failure, parse_retry_after

# Google's errors[].reason values that mean "slow down", not "no access" (Gmail API guide).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
PERMANENT_5XX = frozenset({501, 505})


class Kind(StrEnum):
    """What an HTTP status says about a request."""

    OK = "ok"
    AUTH = "auth"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not found"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    UNEXPECTED = "unexpected"


RETRYABLE = frozenset({Kind.THROTTLED, Kind.UNAVAILABLE})
ERRORS: Mapping[Kind, type[InboxFinderError]] = {
    Kind.AUTH: AuthError,
    Kind.FORBIDDEN: AuthError,
    Kind.NOT_FOUND: MailboxError,
    Kind.THROTTLED: MailboxError,
    Kind.UNAVAILABLE: MailboxError,
    Kind.REJECTED: MailboxError,
    Kind.UNEXPECTED: MailboxError,
}


def classify_status(status: int, reasons: Iterable[str] = ()) -> Kind:
    """The kind of an HTTP status; ``reasons``: the error reasons the body names (Google's)."""
    if 200 <= status < 300:
        return Kind.OK
    if status == 401:
        return Kind.AUTH
    if status == 403:
        return Kind.THROTTLED if RATE_LIMIT_REASONS & set(reasons) else Kind.FORBIDDEN
    if status == 404:
        return Kind.NOT_FOUND
    if status in (408, 429):
        return Kind.THROTTLED
    if 400 <= status < 500 or status in PERMANENT_5XX:
        return Kind.REJECTED
    if 500 <= status < 600:
        return Kind.UNAVAILABLE
    return Kind.UNEXPECTED


def status_failure(
    status: int, message: str, *, reasons: Iterable[str] = (), retry_after: str | None = None
) -> Failure:
    """The Failure for a non-2xx answer: its error class, and whether to retry (and when)."""
    kind = classify_status(status, reasons)
    if kind is Kind.OK:
        raise ValueError(f"HTTP {status} is a success, not a failure")
    retryable = kind in RETRYABLE
    wait = parse_retry_after(retry_after) if retryable else None
    return Failure(ERRORS[kind], message, retryable, wait, status)


class Transport(StrEnum):
    """Why a request got no usable answer."""

    TIMEOUT = "timed out"
    CUT = "cut off"
    TLS = "TLS failure"
    UNREACHABLE = "unreachable"


class Malformed(Exception):
    """A 200 answer whose body cannot be read (cut JSON or multipart): worth another try."""


_CUT = (
    http.client.IncompleteRead,  # shorter than its Content-Length
    http.client.BadStatusLine,  # no status line: RemoteDisconnected included
    http.client.ResponseNotReady,
    http.client.CannotSendRequest,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    ssl.SSLEOFError,  # the peer vanished mid-TLS: a dropped connection, not a TLS mismatch
    ssl.SSLZeroReturnError,
)
# urllib3/requests wrappers whose cause is not always chained (a chunked body ending early).
_CUT_NAMES = frozenset({"ProtocolError", "ChunkedEncodingError", "ContentDecodingError"})
_LIBRARIES = ("urllib3", "requests", "httplib2")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: causes, exception arguments, urllib3's ``reason``.

    Not ``__context__``: an exception merely raised while another was handled is no cause.
    """
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 12:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, getattr(current, "reason", None)]
        inner += list(getattr(current, "args", ()))
        pending += [e for e in inner if isinstance(e, BaseException)]


def classify_transport(exc: BaseException) -> Transport | None:
    """The transport failure behind ``exc``, or None when it is not one (a parser bug, say)."""
    chain = list(_chain(exc))
    if any(_tls(e) for e in chain):
        return Transport.TLS
    if any(isinstance(e, TimeoutError) or _named(e, {"ReadTimeoutError"}) for e in chain):
        return Transport.TIMEOUT
    if any(isinstance(e, _CUT) or _named(e, _CUT_NAMES) for e in chain):
        return Transport.CUT
    if any(isinstance(e, OSError | http.client.HTTPException) or _library(e) for e in chain):
        return Transport.UNREACHABLE
    return None


def _named(exc: BaseException, names: frozenset[str] | set[str]) -> bool:
    return _library(exc) and any(cls.__name__ in names for cls in type(exc).__mro__)


def _library(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(_LIBRARIES)


def root_reason(exc: BaseException) -> str:
    """A short reason for a network failure (``Connection refused``) from nested exceptions."""
    chain = list(_chain(exc))
    for inner in chain:
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
    inner = chain[-1]
    text = " ".join(str(inner).split())[:200]
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def transport_failure(
    exc: BaseException, *, service: str, doing: str, where: str, timeout: float
) -> Failure:
    """The Failure for a request that got no usable answer: ``doing`` names the request
    ("Gmail API list messages"), ``service`` who answers it ("the Gmail API"), ``where`` the
    host or endpoint."""
    kind = classify_transport(exc)
    if kind is Transport.TIMEOUT:
        text = f"{doing} timed out: no complete answer within {timeout:g}s from {where}"
        return Failure(MailboxError, text, retryable=True)
    if kind is Transport.CUT:
        name = type(next(e for e in reversed(list(_chain(exc))) if _cut(e))).__name__
        text = f"{doing} failed: the answer from {where} was cut off ({name})"
        return Failure(MailboxError, text, retryable=True)
    if kind is Transport.TLS:
        error = next(e for e in _chain(exc) if _tls(e))
        assert isinstance(error, ssl.SSLError)
        return Failure(
            MailboxError, f"TLS failure talking to {service}: {tls.describe(error, where)}"
        )
    return Failure(MailboxError, f"cannot reach {service} at {where}: {root_reason(exc)}")


def _tls(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLError) and not isinstance(exc, _CUT)


def _cut(exc: BaseException) -> bool:
    return isinstance(exc, _CUT) or _named(exc, _CUT_NAMES)


def parse_json(body: bytes | str) -> object:
    """A 200 answer's JSON; Malformed when it is not JSON (cut short, most likely)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"not JSON ({type(exc).__name__})") from exc


# OAuth error codes that mean "try again later" (RFC 6749 section 4.1.2.1).
_OAUTH_LATER = frozenset({"temporarily_unavailable", "server_error"})


class RetryableAnswer(Exception):
    """An answer a retry may fix (a transient status, a 200 that is not JSON): its Failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def check_answer(status: int, body: bytes, retry_after: str | None, *, doing: str) -> None:
    """Raise RetryableAnswer when a JSON endpoint's answer (a token endpoint's) is worth
    another try: a retryable status, an OAuth "try later" error, or a 2xx that is not JSON."""
    if classify_status(status) in RETRYABLE:
        message = f"{doing} answered HTTP {status}"
        raise RetryableAnswer(status_failure(status, message, retry_after=retry_after))
    try:
        answer = parse_json(body)
    except Malformed as exc:
        if 200 <= status < 300:
            failure = Failure(MailboxError, f"{doing} sent a malformed answer ({exc})", True)
            raise RetryableAnswer(failure) from exc
        return  # an error page that is not JSON: the caller reports the status
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, str) and error in _OAUTH_LATER:
        raise RetryableAnswer(Failure(MailboxError, f"{doing} answered {error}", True))


def answer_failure(
    exc: BaseException, *, service: str, doing: str, where: str, timeout: float
) -> Failure | None:
    """The Failure for a request to ``service``: a RetryableAnswer anywhere in the chain, or a
    transport failure; None when ``exc`` is neither (let it propagate)."""
    for inner in _chain(exc):
        if isinstance(inner, RetryableAnswer):
            return inner.failure
    if classify_transport(exc) is None:
        return None
    return transport_failure(exc, service=service, doing=doing, where=where, timeout=timeout)
