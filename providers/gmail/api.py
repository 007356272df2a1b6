"""The Gmail API client of the Gmail provider: building it, retrying calls, translating errors.

Errors: statuses and transport failures are classified by ``inbox_finder.net.http`` and retried
under ``inbox_finder.net.retry`` (profile key ``retry_max_seconds``, default 60: no retry starts
after it; ``retries`` and ``retry_backoff`` apply too): 429, 5xx and rate-limit 403s; an answer
cut off before its Content-Length or a reset mid-answer; no complete answer within the timeout
(a total deadline per request, however slowly the server trickles); a 200 whose JSON (or
batch multipart) is malformed. Then MailboxError naming the call and what failed. 401 (after
one token refresh) and other 403s are AuthError with the fixing command; a refused connection,
an unknown host or a TLS failure is MailboxError at once; a message deleted between list and
fetch is MailboxError naming it. Refreshing the access token at Google's token endpoint is
retried the same way. googleapiclient, google-auth and httplib2 are imported lazily.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from inbox_finder.errors import (
    AuthError,
    InboxFinderError,
    MailboxError,
    MessageVanishedError,
)
from inbox_finder.net import http, retry, tls
from inbox_finder.net.http import Malformed
from inbox_finder.net.retry import Failure, RetryPolicy

from . import auth as google_auth
from .auth import AuthSettings, CredentialStore

# The provider's logger: retry notes read as they did before this module was split out.
log = logging.getLogger("inbox_finder.providers.gmail")

# No count limit: the 60 s budget (retry_max_seconds) ends the retries.
DEFAULT_RETRY = RetryPolicy(max_attempts=None, max_total=60.0, base_delay=0.5, max_delay=16.0)


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
        self.user_id = user_id
        self.endpoint = endpoint
        self._auth = auth
        self._timeout = timeout
        self._context = tls.client_context(ca_file)  # system store plus --ca-file, deadlines
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

        from inbox_finder.net.transports import httplib2_http

        self._store = google_auth.load_credentials(self._auth)
        self._raw_http = httplib2_http(self._timeout, self._context)
        self.refresh_if_needed()
        # One refresh on a 401 covers a token revoked early; a second 401 is an AuthError.
        authed = _google_auth_httplib2().AuthorizedHttp(
            self._store.credentials, http=self._raw_http, max_refresh_attempts=1
        )
        try:
            service = build(
                "gmail",
                "v1",
                http=authed,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.endpoint},
            )
        except Exception as exc:  # a broken install: unknown API, bad discovery document
            bad = f"cannot set up the Gmail API client ({type(exc).__name__})"
            raise MailboxError(bad) from exc
        self._authed_http, self._service = authed, service
        return service

    def refresh_if_needed(self) -> None:
        """Refresh an expiring access token over our own transport, retried like API calls."""
        store = self._store
        assert store is not None
        creds = store.credentials  # google-auth keeps a service account's token URI private
        uri = getattr(creds, "token_uri", None) or getattr(creds, "_token_uri", None)
        where = urlsplit(uri or google_auth.GOOGLE_TOKEN_URI).netloc
        request = _TokenRequest(_google_auth_httplib2().Request(self._raw_http), where)

        def classify(exc: Exception) -> Failure | None:
            failure = http.answer_failure(
                exc,
                service="the Google token endpoint",
                doing="the request to the Google token endpoint",
                where=where,
                timeout=self._timeout,
            )
            if failure is not None and failure.retryable:
                self._drop_connections()
            return failure

        retry.run(self.retry, lambda: store.refresh_if_needed(request), classify, log)

    def close(self) -> None:
        """Save a token refreshed during the session and drop the connections."""
        if self._store is not None:
            self._store.save_if_changed()
        if self._authed_http is not None:
            self._authed_http.close()
        elif self._raw_http is not None:
            self._raw_http.close()
        self._service = self._authed_http = self._raw_http = self._store = None

    def call(self, what: str, run: Callable[[Any], Any], *, missing: str | None = None) -> Any:
        """Run one API call with retries; translate every SDK/transport error at this boundary.

        ``missing``: the message for a 404 (the object vanished), instead of the generic one.
        """
        api = self._api()

        def attempt() -> Any:
            result = run(api)
            if isinstance(result, str | bytes):
                # googleapiclient hands back the body as text when it is not JSON.
                raise Malformed(f"Gmail API {what} failed: malformed answer (not JSON)")
            return result

        def classify(exc: Exception) -> Failure | None:
            if isinstance(exc, InboxFinderError):
                return None  # already translated (a token refresh that gave up, say)
            failure = self.classify(exc, what)
            if failure is None:
                return None
            if missing is not None and failure.status == 404:
                failure = Failure(MessageVanishedError, missing, status=404)
            if failure.retryable and failure.status is None:
                self._drop_connections()  # a cut or stalled connection is not reusable
            return failure

        result = retry.run(self.retry, attempt, classify, log)
        if result is not None and not isinstance(result, dict):
            raise MailboxError(f"unexpected answer from the Gmail API to {what}")
        return result or {}

    def _drop_connections(self) -> None:
        if self._raw_http is not None:
            self._raw_http.close()

    def classify(self, exc: BaseException, what: str) -> Failure | None:
        """The error ``exc`` stands for and whether a retry may help; None for a bug."""
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
        if isinstance(exc, GoogleAuthError):
            hint = self._store.fix_hint if self._store else google_auth.LOGIN_HINT
            err = google_auth.auth_failure(exc, hint)
            return Failure(type(err), str(err))
        if http.classify_transport(exc) is not None:
            return http.transport_failure(
                exc,
                service="the Gmail API",
                doing=f"Gmail API {what}",
                where=self.endpoint,
                timeout=self._timeout,
            )
        if isinstance(exc, UnicodeDecodeError):
            bad = f"Gmail API {what} failed: malformed answer (not UTF-8)"
            return Failure(MailboxError, bad, retryable=True)
        if isinstance(exc, ApiError | ValueError | KeyError | TypeError):
            return Failure(
                MailboxError,
                f"unexpected answer from the Gmail API to {what} ({type(exc).__name__})",
            )
        return None  # a programming error: let it surface as it is

    def _http_failure(
        self, status: int, content: bytes, retry_after: str | None, what: str
    ) -> Failure:
        message, reasons = _error_details(content)
        text = f"Gmail API {what} failed: HTTP {status}" + (f" ({message})" if message else "")
        failure = http.status_failure(status, text, reasons=reasons, retry_after=retry_after)
        if failure.error is AuthError:  # 401 (after one refresh) or a 403 that is no rate limit
            hint = self._store.fix_hint if self._store else google_auth.LOGIN_HINT
            access = "" if status == 401 else f": no access to mailbox {self.user_id}"
            return Failure(AuthError, f"{text}{access}; {hint}", status=status)
        return failure


class _TokenRequest:
    """google-auth's request callable, made to stop at an answer a retry of ours may fix.

    Without it google-auth retries 5xx answers itself (three tries, its own sleeps) and hands a
    cut JSON body on as text; with it the unified retry policy decides (see refresh_if_needed).
    """

    def __init__(self, inner: Any, where: str) -> None:
        self._inner = inner
        self._doing = f"the Google token endpoint {where}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        response = self._inner(*args, **kwargs)
        retry_after = response.headers.get("retry-after")
        http.check_answer(response.status, response.data, retry_after, doing=self._doing)
        return response


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
