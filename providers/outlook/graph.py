"""Microsoft Graph GETs for the Outlook provider: bearer token, retries, error mapping.

Errors: every GET is retried with backoff (Retry-After honoured) within ``RetryPolicy``'s
bounds — at most ``max_attempts``, and ``max_total`` seconds of waiting, for answers and between
attempts together — when Graph answers 429, 500, 502, 503 or 504, when no answer (or no more of
it) comes within the source timeout, when the connection breaks mid-answer (short of its
Content-Length, or reset), or when a 200's JSON is malformed; then MailboxError naming what
failed. 401/403 are AuthError at once, an unknown mailbox a ConfigError, a refused connection,
an unknown host or a TLS failure a MailboxError at once, and a message deleted between list and
``$value`` a MailboxError naming it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from inbox_finder.errors import (
    AuthError,
    ConfigError,
    FolderNotFoundError,
    MailboxError,
    MessageVanishedError,
)
from inbox_finder.net.retry import parse_retry_after

from .auth import TokenSource

if TYPE_CHECKING:
    import requests

# The provider's logger: request and retry notes read as they did before this module was split.
log = logging.getLogger("inbox_finder.providers.outlook")

# Throttled (429), and server errors a GET can meet in passing (Graph's own guidance names
# 429/503/504; 500/502 come from overloaded mailbox servers and gateways just as briefly).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 404 codes meaning "this mailbox does not exist / has no Exchange Online REST access".
UNKNOWN_MAILBOX_CODES = frozenset(
    {"ErrorInvalidUser", "ResourceNotFound", "MailboxNotEnabledForRESTAPI", "ErrorMailboxNotFound"}
)

_T = TypeVar("_T")


@dataclass
class RetryPolicy:
    """Bounded backoff for transient failures: honours Retry-After, caps attempts and waiting."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Seconds spent on one call: waiting for answers (each at most the source timeout) and
    # sleeping between attempts, all attempts together. No retry starts beyond it.
    max_total: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_delay)
        return min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)


class _Malformed(Exception):
    """A 200 answer whose JSON cannot be read (cut short, most likely): worth another try."""


def json_object(resp: requests.Response) -> dict[str, Any]:
    """The JSON object of a list answer; _Malformed when it is not JSON."""
    try:
        body = resp.json()
    except ValueError as exc:  # requests' JSONDecodeError (and UnicodeDecodeError) included
        raise _Malformed(f"not JSON: {type(exc).__name__}") from exc
    if not isinstance(body, dict):
        raise MailboxError(f"Graph answered a list request with JSON {type(body).__name__}")
    return body


def raw_body(resp: requests.Response) -> bytes:
    """The body of a ``$value`` answer as it came."""
    return resp.content


class GraphClient:
    """GETs against Graph for one mailbox: a bearer token per attempt, transient failures
    retried within ``retry``, every other answer mapped to the inbox_finder error tree.

    ``source`` and ``folder`` only name the mailbox in error messages.
    """

    def __init__(
        self,
        *,
        session: requests.Session,
        tokens: TokenSource,
        verify: str | bool,
        timeout: float,
        retry: RetryPolicy,
        source: str,
        folder: str,
    ) -> None:
        self._session = session
        self.tokens = tokens
        # Per request: requests lets REQUESTS_CA_BUNDLE override Session.verify (psf/requests#3829).
        self._verify = verify
        self.timeout = timeout
        self.retry = retry
        self._source = source
        self._folder = folder

    def close(self) -> None:
        """Drop pooled connections."""
        self._session.close()

    def get(
        self,
        url: str,
        params: dict[str, str] | None,
        *,
        what: str,
        decode: Callable[[requests.Response], _T],
        json_body: Any = None,
    ) -> _T:
        """GET (POST ``json_body``: JSON batching of GETs) with a bearer token and ``decode``
        the 200 answer, retrying transient failures within the policy's bounds (module doc)."""
        import requests

        host = urlsplit(url).netloc
        attempt, spent = 0, 0.0
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {self.tokens.access_token()}"}
            if what == "list":
                headers["Accept"] = "application/json"
            started = self.retry.clock()
            retry_after: str | None = None
            cause: BaseException | None = None
            try:
                resp = self._session.request(
                    "GET" if json_body is None else "POST",  # POST: a batch of GETs
                    url,
                    params=params,
                    json=json_body,
                    headers=headers,
                    verify=self._verify,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                log.debug(
                    "Graph %s %s -> %s",
                    resp.request.method,
                    resp.url.split("?")[0],
                    resp.status_code,
                )
                if resp.status_code == 200:
                    return decode(resp)
                if resp.status_code not in RETRY_STATUSES:
                    self._raise_for(resp, what)
                retry_after = resp.headers.get("Retry-After")
                problem = f"Graph answered HTTP {resp.status_code} (throttled or unavailable)"
            except _Malformed as exc:
                problem = f"Graph's answer to the {what} request at {host} was malformed ({exc})"
                cause = exc
            except requests.exceptions.SSLError as exc:
                raise MailboxError(f"TLS failure talking to Graph at {host}") from exc
            except requests.RequestException as exc:
                transient = _transport_problem(exc, host, what, self.timeout)
                if transient is None:
                    raise MailboxError(
                        f"cannot reach Graph at {host} ({type(exc).__name__})"
                    ) from exc
                problem, cause = transient, exc
            spent += self.retry.clock() - started
            wait = self.retry.delay(attempt, retry_after)
            if attempt >= self.retry.max_attempts or spent + wait > self.retry.max_total:
                raise MailboxError(
                    f"{problem}; gave up after {attempt} attempts, try again later"
                ) from cause
            log.info("%s; retry %d in %.1fs", problem, attempt, wait)
            self.retry.sleep(wait)
            spent += wait

    def _raise_for(self, resp: requests.Response, what: str) -> None:
        code, message = _graph_error(resp)
        status = resp.status_code
        detail = f"HTTP {status}, {code}: {message}" if code else f"HTTP {status}"
        if status == 401:
            raise AuthError(f"Graph rejected the access token for {self._source} ({detail})")
        if status == 403:
            raise AuthError(
                f"Graph denied access to {self._source} ({detail}); the app needs "
                "Mail.Read (application permission for outlook://USER)"
            )
        if status == 404 and code in UNKNOWN_MAILBOX_CODES:
            # Definitive and fixed only by editing the SOURCE: a usage error (exit 2), like a
            # missing maildir path, not a transient mailbox failure.
            raise ConfigError(f"no such Exchange Online mailbox: {self._source} ({detail})")
        if status == 404 and what == "list":
            raise FolderNotFoundError(f"folder {self._folder!r} not found in {self._source}")
        if status == 404:
            raise MessageVanishedError(
                f"message vanished from {self._source} before it was read ({detail})"
            )
        if 300 <= status < 400:
            raise MailboxError(
                f"Graph at {urlsplit(resp.url).netloc} redirected (HTTP {status}); "
                "check graph_endpoint"
            )
        raise MailboxError(f"Graph request for {self._source} failed ({detail})")


def _transport_problem(exc: BaseException, host: str, what: str, timeout: float) -> str | None:
    """Why a requests exception is worth a retry (timed out, cut off), or None when it is not
    (refused, unknown host: retrying in seconds will not help)."""
    import requests
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    if isinstance(exc, requests.exceptions.Timeout) or isinstance(inner, ReadTimeoutError):
        return f"Graph {what} request to {host} timed out: no answer within {timeout:g}s"
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ) or (
        isinstance(exc, requests.exceptions.ConnectionError) and isinstance(inner, ProtocolError)
    ):
        return f"Graph's answer to the {what} request at {host} was cut off ({_root_name(exc)})"
    return None


def _root_name(exc: BaseException) -> str:
    """The name of the innermost exception (IncompleteRead, RemoteDisconnected, ...)."""
    for _ in range(6):
        nxt = exc.__cause__ or next((a for a in exc.args if isinstance(a, BaseException)), None)
        if nxt is None:
            break
        exc = nxt
    return type(exc).__name__


def _graph_error(resp: requests.Response) -> tuple[str, str]:
    """(code, first line of message) from Graph's ``{"error": {"code", "message"}}`` body."""
    try:
        err = resp.json().get("error", {})
    except ValueError:
        return "", ""
    if not isinstance(err, dict):
        return "", ""
    message = str(err.get("message", "")).strip().splitlines()
    return str(err.get("code", "")), (message[0][:200] if message else "")
