"""The Gmail API client of the Gmail provider: building it, retrying calls, translating errors.

Errors: transient failures are retried with exponential backoff and jitter, honouring
Retry-After, within ``retry_max_seconds`` (wall time, waiting for answers included; each attempt
waits at most the source timeout): 429, 5xx and rate-limit 403s; an answer cut off before its
Content-Length or a reset mid-answer; no answer within the timeout; a 200 whose JSON (or batch
multipart) is malformed. Then MailboxError naming the call and what failed. 401 (after one
token refresh) and other 403s are AuthError with the fixing command; a refused connection, an
unknown host or a TLS failure is MailboxError at once; a message deleted between list and fetch
is MailboxError naming it. googleapiclient, google-auth and httplib2 are imported lazily.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inbox_finder.errors import (
    AuthError,
    InboxFinderError,
    MailboxError,
    MessageVanishedError,
)
from inbox_finder.net.retry import parse_retry_after

from . import auth as google_auth
from .auth import AuthSettings, CredentialStore

# The provider's logger: retry notes read as they did before this module was split out.
log = logging.getLogger("inbox_finder.providers.gmail")

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter within a total time budget; clock and sleep injectable."""

    max_total: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 16.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Pause before retry ``attempt`` (0-based); never shorter than Retry-After."""
        backoff = min(self.max_delay, self.base_delay * 2.0**attempt)
        backoff *= 0.5 + self.jitter() / 2  # "equal jitter": spreads clients, keeps a floor
        return max(backoff, retry_after or 0.0)


class Malformed(Exception):
    """A 200 answer that cannot be read (cut JSON or multipart): worth another try."""


@dataclass(frozen=True)
class Failure:
    """A classified API failure: which error to raise, and whether waiting may help."""

    kind: type[InboxFinderError]
    message: str
    retryable: bool = False
    retry_after: float | None = None
    status: int | None = None


class GmailApi:
    """The Gmail service object and its transport, built on first use; every call goes through
    ``call``, which retries transient failures and translates SDK and transport errors."""

    def __init__(
        self,
        *,
        user_id: str,
        endpoint: str,
        auth: AuthSettings,
        timeout: float,
        ca_file: str | None,
        retry: RetryPolicy,
    ) -> None:
        self._user_id = user_id
        self._endpoint = endpoint
        self._auth = auth
        self._timeout = timeout
        self._ca_file = ca_file
        self.retry = retry
        self._store: CredentialStore | None = None
        self._raw_http: Any = None
        self._authed_http: Any = None
        self._service: Any = None

    def _api(self) -> Any:
        """The Gmail service object, built on first use (credentials loaded and refreshed)."""
        if self._service is not None:
            return self._service
        from googleapiclient.discovery import build

        store = google_auth.load_credentials(self._auth)
        raw_http = _httplib2().Http(timeout=self._timeout, ca_certs=self._ca_file)
        store.refresh_if_needed(_google_auth_httplib2().Request(raw_http))
        # One refresh on a 401 covers a token revoked early; a second 401 is an AuthError.
        authed = _google_auth_httplib2().AuthorizedHttp(
            store.credentials, http=raw_http, max_refresh_attempts=1
        )
        try:
            service = build(
                "gmail",
                "v1",
                http=authed,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self._endpoint},
            )
        except Exception as exc:  # a broken install: unknown API, bad discovery document
            bad = f"cannot set up the Gmail API client ({type(exc).__name__})"
            raise MailboxError(bad) from exc
        self._store, self._raw_http, self._authed_http = store, raw_http, authed
        self._service = service
        return service

    def refresh_if_needed(self) -> None:
        """Refresh an expiring access token over our own transport (only inside ``call``)."""
        assert self._store is not None
        self._store.refresh_if_needed(_google_auth_httplib2().Request(self._raw_http))

    def close(self) -> None:
        """Save a token refreshed during the session and drop the connections."""
        if self._store is not None:
            self._store.save_if_changed()
        if self._authed_http is not None:
            self._authed_http.close()
        self._service = self._authed_http = self._raw_http = self._store = None

    def call(self, what: str, run: Callable[[Any], Any], *, missing: str | None = None) -> Any:
        """Run one API call with retries; translate every SDK/transport error at this boundary.

        ``missing``: the message for a 404 (the object vanished), instead of the generic one.
        """
        api = self._api()
        deadline = self.retry.clock() + self.retry.max_total
        attempt = 0
        while True:
            try:
                result = run(api)
                if isinstance(result, str | bytes):
                    # googleapiclient hands back the body as text when it is not JSON.
                    raise Malformed(f"Gmail API {what} failed: malformed answer (not JSON)")
            except InboxFinderError:
                raise
            except Exception as exc:
                failure = self.classify(exc, what)
                if missing is not None and failure.status == 404:
                    failure = Failure(MessageVanishedError, missing, status=404)
                if failure.retryable and not isinstance(failure.status, int):
                    self._drop_connections()  # a cut or stalled connection is not reusable
                self.wait_or_raise(failure, attempt, deadline, exc)
                attempt += 1
                continue
            if result is not None and not isinstance(result, dict):
                raise MailboxError(f"unexpected answer from the Gmail API to {what}")
            return result or {}

    def _drop_connections(self) -> None:
        if self._raw_http is not None:
            self._raw_http.close()

    def wait_or_raise(
        self, failure: Failure, attempt: int, deadline: float, exc: BaseException
    ) -> None:
        """Sleep before retry ``attempt + 1`` when ``failure`` is retryable and time is left;
        raise its error otherwise."""
        if failure.retryable:
            pause = self.retry.delay(attempt, failure.retry_after)
            if self.retry.clock() + pause <= deadline:
                log.info("%s; retry %d in %.1fs", failure.message, attempt + 1, pause)
                self.retry.sleep(pause)
                return
            raise failure.kind(f"{failure.message} (gave up after {attempt + 1} attempts)") from exc
        raise failure.kind(failure.message) from exc

    def classify(self, exc: BaseException, what: str) -> Failure:
        """The error ``exc`` stands for and whether a retry may help; re-raises a bug."""
        from google.auth.exceptions import GoogleAuthError
        from googleapiclient.errors import BatchError, HttpError
        from googleapiclient.errors import Error as ApiError

        if isinstance(exc, Malformed):
            return Failure(MailboxError, str(exc), retryable=True)
        if isinstance(exc, BatchError):  # an HttpError without a usable status
            bad = f"Gmail API {what} failed: malformed batch answer ({exc.reason})"
            return Failure(MailboxError, bad, retryable=True)
        if isinstance(exc, HttpError):
            retry_after = exc.resp.get("retry-after")
            return self._http_failure(exc.resp.status, exc.content, retry_after, what)
        if isinstance(exc, InboxFinderError):
            return Failure(type(exc), str(exc))
        hint = self._store.fix_hint if self._store else google_auth.LOGIN_HINT
        if isinstance(exc, GoogleAuthError):
            err = google_auth.auth_failure(exc, hint)
            return Failure(type(err), str(err))
        if isinstance(exc, TimeoutError):  # socket.timeout: no answer (or no more of it) in time
            text = f"Gmail API {what} timed out: no answer within {self._timeout:g}s"
            return Failure(MailboxError, f"{text} from {self._endpoint}", retryable=True)
        if isinstance(exc, _CUT_OFF):
            text = f"Gmail API {what} failed: the answer was cut off ({type(exc).__name__})"
            return Failure(MailboxError, f"{text} at {self._endpoint}", retryable=True)
        if isinstance(exc, OSError | _httplib2().HttpLib2Error | http.client.HTTPException):
            reason = google_auth.transport_reason(exc)
            where = f"cannot reach the Gmail API at {self._endpoint}"
            return Failure(MailboxError, f"{where}: {reason}")
        if isinstance(exc, UnicodeDecodeError):
            bad = f"Gmail API {what} failed: malformed answer (not UTF-8)"
            return Failure(MailboxError, bad, retryable=True)
        if isinstance(exc, ApiError | ValueError | KeyError | TypeError):
            return Failure(
                MailboxError,
                f"unexpected answer from the Gmail API to {what} ({type(exc).__name__})",
            )
        raise exc  # a programming error: let it surface as it is

    def _http_failure(
        self, status: int, content: bytes, retry_after: str | None, what: str
    ) -> Failure:
        message, reasons = _error_details(content)
        text = f"Gmail API {what} failed: HTTP {status}" + (f" ({message})" if message else "")
        hint = self._store.fix_hint if self._store else google_auth.LOGIN_HINT
        if status == 429 or status >= 500 or (status == 403 and reasons & RATE_LIMIT_REASONS):
            return Failure(MailboxError, text, True, parse_retry_after(retry_after), status)
        if status == 401:
            return Failure(AuthError, f"{text}; {hint}", status=status)
        if status == 403:
            return Failure(
                AuthError,
                f"{text}: no access to mailbox {self._user_id}; {hint}",
                status=status,
            )
        return Failure(MailboxError, text, status=status)


# The connection broke after the request went out: an answer cut short of its Content-Length
# (IncompleteRead), no status line (RemoteDisconnected is a BadStatusLine), a reset. Worth a
# retry on a fresh connection; a refused connection or an unknown host is not.
_CUT_OFF = (
    http.client.IncompleteRead,
    http.client.BadStatusLine,
    http.client.ResponseNotReady,
    http.client.CannotSendRequest,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


def _httplib2() -> Any:
    import httplib2  # type: ignore[import-untyped]

    return httplib2


def _google_auth_httplib2() -> Any:
    import google_auth_httplib2  # type: ignore[import-untyped]

    return google_auth_httplib2


def _error_details(content: bytes) -> tuple[str, set[str]]:
    """Google's error message (one short line) and the set of ``errors[].reason`` values."""
    try:
        err = json.loads(content.decode("utf-8")).get("error")
    except (ValueError, AttributeError):
        return "", set()
    if not isinstance(err, dict):
        return (err if isinstance(err, str) else ""), set()
    message = " ".join(str(err.get("message", "")).split())[:200]
    reasons = {str(e.get("reason")) for e in err.get("errors") or [] if isinstance(e, dict)}
    return message, reasons
