"""HTTP for the Outlook provider: Graph GETs (bearer token, retries, error mapping), and the
session and http_client MSAL sends its identity-endpoint requests through.

One ``requests.Session`` per provider serves Graph and the identity endpoint (Entra ID); it
trusts the system store plus the CA file and enforces total deadlines (inbox_finder.net).
``MsalHttp`` gives MSAL's requests our timeout and the same bounded retries as Graph.

Errors: statuses and transport failures are classified by ``inbox_finder.net.http`` and retried
under ``inbox_finder.net.retry`` (default: at most 5 attempts within 60 s; profile keys
``retries``, ``retry_backoff``, ``retry_max_seconds``) when Graph answers 408, 429 or 5xx
(Retry-After honoured), when no complete answer comes within the timeout (a total deadline
per request, however slowly it trickles), when the connection breaks mid-answer (short of its
Content-Length, or reset), or when a 200's JSON is malformed; then MailboxError naming what
failed. 401/403 are AuthError at once, an unknown mailbox a ConfigError, a refused connection,
an unknown host or a TLS failure a MailboxError at once, and a message deleted between list and
``$value`` a MailboxError naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from inbox_finder.errors import (
    AuthError,
    ConfigError,
    FolderNotFoundError,
    InboxFinderError,
    MailboxError,
    MessageVanishedError,
)
from inbox_finder.net import http, retry, tls
from inbox_finder.net.http import Kind, Malformed, RetryableAnswer
from inbox_finder.net.retry import Failure, RetryPolicy

__all__ = [
    "DEFAULT_RETRY",
    "UNKNOWN_MAILBOX_CODES",
    "GraphClient",
    "MsalHttp",
    "json_object",
    "make_session",
    "raw_body",
]


if TYPE_CHECKING:
    import requests

    from .auth import TokenSource

# The provider's logger: request and retry notes read as they did before this module was split.
log = logging.getLogger("inbox_finder.providers.outlook")

# 404 codes meaning "this mailbox does not exist / has no Exchange Online REST access".
UNKNOWN_MAILBOX_CODES = frozenset(
    {"ErrorInvalidUser", "ResourceNotFound", "MailboxNotEnabledForRESTAPI", "ErrorMailboxNotFound"}
)

_T = TypeVar("_T")


# Graph's and the identity endpoint's retries (Graph's guidance: honour Retry-After, back off
# exponentially, bound the attempts); profile keys retries, retry_backoff, retry_max_seconds.
DEFAULT_RETRY = RetryPolicy(max_attempts=5, max_total=60.0, base_delay=1.0, max_delay=30.0)


class MsalHttp:
    """The http_client handed to MSAL: our session, timeout and the unified retries.

    Retrying here, below MSAL, is what gives the identity endpoint the same bounded retries as
    Graph (408/429/5xx, timeouts, cut or malformed answers): MSAL itself would throttle a
    repeated request after a 429/5xx rather than retry it.
    """

    def __init__(self, session: requests.Session, timeout: float, retry: RetryPolicy) -> None:
        self._session = session
        self._timeout = timeout
        self.retry = retry

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET with our timeout (MSAL passes none of its own), retried."""
        return self._send("GET", url, kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        """POST with our timeout, retried (token requests are safe to repeat)."""
        return self._send("POST", url, kwargs)

    def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        where = urlsplit(url).netloc

        def attempt() -> requests.Response:
            resp = self._session.request(method, url, **kwargs)
            retry_after = resp.headers.get("Retry-After")
            doing = f"the identity endpoint {where}"
            http.check_answer(resp.status_code, resp.content, retry_after, doing=doing)
            return resp

        def classify(exc: Exception) -> Failure | None:
            return http.answer_failure(
                exc,
                service="the identity endpoint",
                doing="the request to the identity endpoint",
                where=where,
                timeout=self._timeout,
            )

        return retry.run(self.retry, attempt, classify, log)

    def close(self) -> None:
        """The session belongs to the provider; MSAL must not close it."""


def make_session(ca_file: str | None) -> requests.Session:
    """A requests.Session (pooled connections to Graph and the identity endpoint) that trusts
    the system store plus ``ca_file`` and enforces total deadlines (inbox_finder.net)."""
    from inbox_finder.net.transports import requests_session

    session: requests.Session = requests_session(tls.client_context(ca_file))
    return session


def json_object(resp: requests.Response) -> dict[str, Any]:
    """The JSON object of a list answer; Malformed when it is not JSON."""
    body = http.parse_json(resp.content)
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
        timeout: float,
        retry: RetryPolicy,
        source: str,
        folder: str,
    ) -> None:
        self._session = session
        self.tokens = tokens
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
        host = urlsplit(url).netloc

        def attempt() -> _T:
            headers = {"Authorization": f"Bearer {self.tokens.access_token()}"}
            if what == "list":
                headers["Accept"] = "application/json"
            resp = self._session.request(
                "GET" if json_body is None else "POST",  # POST: a $batch of GETs
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
            method = resp.request.method if resp.request is not None else "GET"
            log.debug("Graph %s %s -> %s", method, resp.url.split("?")[0], resp.status_code)
            if resp.status_code != 200:
                self._raise_for(resp, what)
            return decode(resp)

        def classify(exc: Exception) -> Failure | None:
            if isinstance(exc, InboxFinderError):
                return None
            if isinstance(exc, RetryableAnswer):
                return exc.failure
            if isinstance(exc, Malformed):
                bad = f"Graph's answer to the {what} request at {host} was malformed ({exc})"
                return Failure(MailboxError, bad, retryable=True)
            if http.classify_transport(exc) is None:
                return None
            doing = f"Graph {what} request"
            return http.transport_failure(
                exc, service="Graph", doing=doing, where=host, timeout=self.timeout
            )

        return retry.run(self.retry, attempt, classify, log)

    def _raise_for(self, resp: requests.Response, what: str) -> None:
        code, message = _graph_error(resp)
        status = resp.status_code
        detail = f"HTTP {status}, {code}: {message}" if code else f"HTTP {status}"
        failure = http.status_failure(
            status,
            f"Graph answered HTTP {status} (throttled or unavailable)",
            retry_after=resp.headers.get("Retry-After"),
        )
        kind = http.classify_status(status)
        if failure.retryable:
            raise RetryableAnswer(failure)
        if kind is Kind.AUTH:
            raise AuthError(f"Graph rejected the access token for {self._source} ({detail})")
        if kind is Kind.FORBIDDEN:
            raise AuthError(
                f"Graph denied access to {self._source} ({detail}); the app needs "
                "Mail.Read (application permission for outlook://USER)"
            )
        if kind is Kind.NOT_FOUND and code in UNKNOWN_MAILBOX_CODES:
            # Definitive and fixed only by editing the SOURCE: a usage error (exit 2), like a
            # missing maildir path, not a transient mailbox failure.
            raise ConfigError(f"no such Exchange Online mailbox: {self._source} ({detail})")
        if kind is Kind.NOT_FOUND and what == "list":
            raise FolderNotFoundError(f"folder {self._folder!r} not found in {self._source}")
        if kind is Kind.NOT_FOUND:
            raise MessageVanishedError(
                f"message vanished from {self._source} before it was read ({detail})"
            )
        if 300 <= status < 400:
            raise MailboxError(
                f"Graph at {urlsplit(resp.url).netloc} redirected (HTTP {status}); "
                "check graph_endpoint"
            )
        raise failure.error(f"Graph request for {self._source} failed ({detail})")


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
