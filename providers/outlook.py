"""Outlook / Microsoft 365 mailboxes through Microsoft Graph: ``outlook://me`` or ``outlook://UPN``.

``outlook://me`` is the signed-in user (delegated, cached device-code login, ``/me/...``);
``outlook://USER@DOMAIN`` is a named mailbox read with app-only credentials (``/users/{upn}``).
Graph query rules this module stays within (list-messages reference):

* every ``$orderby`` property must lead the ``$filter`` or Graph answers 400 InefficientFilter,
  so the filter always starts ``receivedDateTime ge ...`` (1900-01-01 when no ``--since``);
* ``from/emailAddress/address`` supports ``eq`` only (``endswith``/``contains`` are rejected as
  "invalid nodes"), so server-side sender narrowing needs exact addresses (profile ``senders``);
  the domain narrowing of ``Query.sender_domains`` is done here on the listed ``from`` field;
* ``$search`` cannot be combined with ``$filter``/``$orderby``, so it is not used;
* ``@odata.nextLink`` is followed exactly as given (its ``$skip`` is not a page count).

A lookup whose newest candidate is the token mail costs two Graph calls: one list, one $value.

Scans: ``sync_cursor`` is ONE list call (same folder and senders, ``$top=10``, newest first):
``graph:<scope hash>:<newest receivedDateTime>:<hashes of the ids of that second>``. A search
after it adds ``receivedDateTime ge <that time - DELIVERY_SLACK>`` and skips the named ids (the
scan that took the cursor searched them). Idle scan: 1 Graph call; a new token mail: 3 (cursor,
list, $value). Not the ``messages/delta`` link: ``sync_cursor()`` gets no stored state, so it
could not replay a stored deltaLink (the one cheap delta call) and a fresh round's link would
not compare equal; a first round pages the whole folder (delta's ``$filter`` takes only
``receivedDateTime ge|gt``, no sender); there is no delta for ``folder = "all"``; and delta also
reports read/unread changes. Gap: mail moved in later (rescued from Junk) keeps its older
receivedDateTime, so scan misses it unless it is the newest; ``folder = "all"`` includes Junk.

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

import email.policy
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import quote, urlsplit

from inbox_finder.errors import (
    AuthError,
    ConfigError,
    FolderNotFoundError,
    MailboxError,
    MessageVanishedError,
)
from inbox_finder.model import Candidate
from inbox_finder.provider import Provider, Query, SourceOptions, split_scheme
from inbox_finder.retry import parse_retry_after

from .ms_auth import (
    MULTI_TENANT_ALIASES,
    AppCredential,
    AppTokens,
    DelegatedTokens,
    MsalHttp,
    TokenSource,
    default_cache_path,
    make_session,
    resolve_authority,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
GRAPH_ENDPOINT_ENV = "INBOX_FINDER_GRAPH_ENDPOINT"
SELECT = "id,receivedDateTime,from,subject,internetMessageId"
NO_LOWER_BOUND = "1900-01-01T00:00:00Z"
CURSOR_PREFIX = "graph:"
CURSOR_TIME = "%Y%m%dT%H%M%SZ"
# Searches after a cursor start this much before its time: deliveries can become visible a
# little out of receivedDateTime order, and a superset costs only a header check.
DELIVERY_SLACK = timedelta(minutes=5)
CURSOR_PROBE = 10  # newest messages the cursor reads: ids of the same second tell mails apart
DEFAULT_PAGE_SIZE = 50  # small $select, so a bigger page costs little and saves round trips
# Throttled (429), and server errors a GET can meet in passing (Graph's own guidance names
# 429/503/504; 500/502 come from overloaded mailbox servers and gateways just as briefly).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 404 codes meaning "this mailbox does not exist / has no Exchange Online REST access".
UNKNOWN_MAILBOX_CODES = frozenset(
    {"ErrorInvalidUser", "ResourceNotFound", "MailboxNotEnabledForRESTAPI", "ErrorMailboxNotFound"}
)
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ADDRESS = re.compile(r"^[^@\s'\"<>()/\\]+@[^@\s'\"<>()/\\]+$")


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


def _json_object(resp: requests.Response) -> dict[str, Any]:
    """The JSON object of a list answer; _Malformed when it is not JSON."""
    try:
        body = resp.json()
    except ValueError as exc:  # requests' JSONDecodeError (and UnicodeDecodeError) included
        raise _Malformed(f"not JSON: {type(exc).__name__}") from exc
    if not isinstance(body, dict):
        raise MailboxError(f"Graph answered a list request with JSON {type(body).__name__}")
    return body


def _raw_body(resp: requests.Response) -> bytes:
    return resp.content


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


def _odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_received(value: object) -> datetime:
    """Graph's receivedDateTime (ISO 8601, UTC ``Z``) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise MailboxError(f"Graph returned a message without receivedDateTime: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MailboxError(f"Graph returned an unparseable receivedDateTime {value!r}") from exc
    if parsed.tzinfo is None:  # Graph documents UTC; never compare naive wall clocks
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def header_block(item: Mapping[str, Any]) -> bytes | None:
    """A small RFC 822 header block (From, Subject, Message-ID) rebuilt from Graph fields.

    It only lets the engine skip obvious non-candidates without a $value call; the verdict is
    always made on the real MIME. None (fetch everything) when the fields do not fit a header.
    """
    msg = EmailMessage(policy=email.policy.SMTP)
    addr = (item.get("from") or {}).get("emailAddress") or {}

    def clean(value: object) -> str:  # header injection guard: Graph values are user data
        return " ".join(str(value or "").split())

    try:
        if addr.get("address"):
            msg["From"] = formataddr((clean(addr.get("name")), clean(addr.get("address"))))
        if item.get("subject"):
            msg["Subject"] = clean(item["subject"])
        if item.get("internetMessageId"):
            msg["Message-ID"] = clean(item["internetMessageId"])
        return bytes(msg)
    except (ValueError, TypeError, IndexError, UnicodeError):
        return None


def _id_hash(ref: str) -> str:
    return hashlib.sha256(ref.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class _After:
    """A usable cursor: search from ``floor`` (None: everything), skip the ids hashed in seen."""

    floor: datetime | None
    seen: frozenset[str]


def _from_address(item: Mapping[str, Any]) -> str:
    addr = (item.get("from") or {}).get("emailAddress") or {}
    return str(addr.get("address") or "").lower()


class OutlookProvider(Provider):
    """A read-only Microsoft 365 / Outlook.com mailbox via Graph v1.0."""

    kind = "Outlook / Microsoft 365"

    def __init__(
        self,
        *,
        mailbox: str | None,
        tokens: TokenSource,
        session: requests.Session,
        verify: str | bool = True,
        graph_endpoint: str = DEFAULT_GRAPH_ENDPOINT,
        folder: str = "inbox",
        senders: tuple[str, ...] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.mailbox = mailbox  # None: the signed-in user (/me)
        self.tokens = tokens
        self.graph_endpoint = graph_endpoint.rstrip("/")
        self.folder = folder
        self.senders = senders
        self.page_size = page_size
        self.timeout = timeout
        # Public so embedders and tests can tune the backoff (e.g. a no-op sleep).
        self.retry = retry or RetryPolicy()
        self._session = session
        # Per request: requests lets REQUESTS_CA_BUNDLE override Session.verify (psf/requests#3829).
        self._verify = verify
        self._root = "/me" if mailbox is None else f"/users/{quote(mailbox, safe='@')}"

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        """Build from ``outlook://me`` / ``outlook://USER@DOMAIN`` plus the profile keys."""
        scheme, rest = split_scheme(url)
        if scheme != "outlook":
            raise ConfigError(f"not an outlook:// source: {url!r}")
        target = rest[2:] if rest.startswith("//") else rest
        if not target or "/" in target or "?" in target or "#" in target:
            raise ConfigError(f"expected outlook://me or outlook://USER@DOMAIN, got {url!r}")
        if ":" in target:
            raise ConfigError(
                "an outlook:// URL never carries a password or port; "
                "app secrets come from client_secret_env"
            )
        delegated = target.lower() == "me"
        if not delegated and not (_ADDRESS.match(target) or _GUID.match(target)):
            raise ConfigError(f"outlook mailbox must be 'me', USER@DOMAIN or a user id: {target!r}")
        profile = options.profile
        # Validate every key before opening anything.
        graph = _graph_endpoint(profile)
        folder = _folder(profile.get("folder", "inbox"))
        senders = _senders(profile.get("senders", ()))
        page_size = _page_size(profile.get("page_size", DEFAULT_PAGE_SIZE))
        verify: str | bool = options.ca_file or True
        session = make_session()
        tokens = _token_source(profile, delegated, MsalHttp(session, options.timeout, verify))
        return cls(
            mailbox=None if delegated else target,
            tokens=tokens,
            session=session,
            verify=verify,
            graph_endpoint=graph,
            folder=folder,
            senders=senders,
            page_size=page_size,
            timeout=options.timeout,
        )

    @property
    def source(self) -> str:
        """The source URL; it never contains credentials."""
        return f"outlook://{self.mailbox or 'me'}"

    def _messages_url(self) -> str:
        if self.folder.lower() == "all":
            return f"{self.graph_endpoint}{self._root}/messages"
        folder = quote(self.folder, safe="")
        return f"{self.graph_endpoint}{self._root}/mailFolders/{folder}/messages"

    def _scope(self) -> str:
        """Tags a cursor with what the search covers: the folder and the sender filter."""
        what = "\n".join([self.folder.lower(), *self.senders])
        return hashlib.sha256(what.encode()).hexdigest()[:8]

    def sync_cursor(self) -> str | None:
        """The newest receivedDateTime of the searched folder and the ids received then."""
        probe = {"$select": "id,receivedDateTime", "$top": str(CURSOR_PROBE)}
        params = {**self.list_params(Query()), **probe}
        page = self._get(self._messages_url(), params, what="list", decode=_json_object)
        items = page.get("value") or []
        if not items:
            return f"{CURSOR_PREFIX}{self._scope()}:empty"
        dated = [(parse_received(i.get("receivedDateTime")), str(i.get("id", ""))) for i in items]
        newest = max(when for when, _ in dated)
        tied = sorted({_id_hash(ref) for when, ref in dated if when == newest})
        return f"{CURSOR_PREFIX}{self._scope()}:{newest.strftime(CURSOR_TIME)}:{'.'.join(tied)}"

    def _after(self, cursor: str | None) -> _After | None:
        """What a search after ``cursor`` may skip; None when the cursor is not usable here."""
        parts = (cursor or "").split(":")
        if len(parts) < 3 or parts[0] + ":" != CURSOR_PREFIX or parts[1] != self._scope():
            return None  # another provider's, another folder's or sender filter's, or garbage
        if parts[2:] == ["empty"]:
            return _After(None, frozenset())  # everything in the folder is new
        if len(parts) != 4:
            return None
        try:
            when = datetime.strptime(parts[2], CURSOR_TIME).replace(tzinfo=UTC)
        except ValueError:
            return None
        return _After(when - DELIVERY_SLACK, frozenset(parts[3].split(".")))

    def list_params(self, query: Query) -> dict[str, str]:
        """The first page's query: date bound first (it must lead, see module doc)."""
        floor = query.since.astimezone(UTC) if query.since else None
        after = self._after(query.after_cursor)
        if after is not None and after.floor is not None and (floor is None or after.floor > floor):
            floor = after.floor
        since = floor.strftime("%Y-%m-%dT%H:%M:%SZ") if floor else NO_LOWER_BOUND
        flt = f"receivedDateTime ge {since}"
        if self.senders:
            ors = " or ".join(
                f"from/emailAddress/address eq {_odata_quote(s)}" for s in self.senders
            )
            flt += f" and ({ors})"
        return {
            "$filter": flt,
            "$orderby": "receivedDateTime desc",
            "$select": SELECT,
            "$top": str(self.page_size),
        }

    def search(self, query: Query) -> Iterator[Candidate]:
        """Yield candidates newest first, following @odata.nextLink as given."""
        domains = tuple(d.lower() for d in query.sender_domains)
        after = self._after(query.after_cursor)
        if query.after_cursor and after is None:
            log.info("the stored sync cursor is for another folder or sender filter; full search")
        # Mails the cursor names were searched by the scan that took it: skip, not re-download.
        seen = after.seen if after is not None else frozenset()
        url: str | None = self._messages_url()
        params: dict[str, str] | None = self.list_params(query)
        listed: set[str] = set()
        while url:
            page = self._get(url, params, what="list", decode=_json_object)
            params = None  # the nextLink already carries every query option
            for item in page.get("value", []):
                ref = str(item.get("id", ""))
                if not ref or ref in listed:  # $skip paging repeats items when new mail lands
                    continue
                listed.add(ref)
                if seen and _id_hash(ref) in seen:
                    continue
                if domains and not any(d in _from_address(item) for d in domains):
                    continue
                yield Candidate(
                    ref=ref,
                    received=parse_received(item.get("receivedDateTime")),
                    received_source="server",
                    headers=header_block(item),
                )
            next_link = page.get("@odata.nextLink")
            url = str(next_link) if next_link else None

    def fetch(self, candidate: Candidate) -> bytes:
        """The raw MIME of one message (``GET .../messages/{id}/$value``); never modifies it."""
        url = f"{self.graph_endpoint}{self._root}/messages/{quote(candidate.ref, safe='=')}/$value"
        return self._get(url, None, what="fetch", decode=_raw_body)

    def close(self) -> None:
        """Drop pooled connections."""
        self._session.close()

    def _get(
        self,
        url: str,
        params: dict[str, str] | None,
        *,
        what: str,
        decode: Callable[[requests.Response], _T],
    ) -> _T:
        """GET with a bearer token and ``decode`` the 200 answer, retrying transient failures
        (see the module docstring) within the policy's bounds."""
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
                resp = self._session.get(
                    url,
                    params=params,
                    headers=headers,
                    verify=self._verify,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                log.debug("Graph GET %s -> %s", resp.url.split("?")[0], resp.status_code)
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
            raise AuthError(f"Graph rejected the access token for {self.source} ({detail})")
        if status == 403:
            raise AuthError(
                f"Graph denied access to {self.source} ({detail}); the app needs "
                "Mail.Read (application permission for outlook://USER)"
            )
        if status == 404 and code in UNKNOWN_MAILBOX_CODES:
            # Definitive and fixed only by editing the SOURCE: a usage error (exit 2), like a
            # missing maildir path, not a transient mailbox failure.
            raise ConfigError(f"no such Exchange Online mailbox: {self.source} ({detail})")
        if status == 404 and what == "list":
            raise FolderNotFoundError(f"folder {self.folder!r} not found in {self.source}")
        if status == 404:
            raise MessageVanishedError(
                f"message vanished from {self.source} before it was read ({detail})"
            )
        if 300 <= status < 400:
            raise MailboxError(
                f"Graph at {urlsplit(resp.url).netloc} redirected (HTTP {status}); "
                "check graph_endpoint"
            )
        raise MailboxError(f"Graph request for {self.source} failed ({detail})")


def _opt(profile: Mapping[str, Any], key: str) -> str | None:
    value = profile.get(key)
    return str(value).strip() or None if value is not None else None


def _token_source(profile: Mapping[str, Any], delegated: bool, http: MsalHttp) -> TokenSource:
    """Delegated cache for outlook://me, client credentials for a named mailbox."""
    client_id = _opt(profile, "client_id")
    if not client_id:
        raise ConfigError(
            "outlook sources need the profile key client_id "
            "(the Entra app registration's application ID)"
        )
    tenant = _opt(profile, "tenant") or ("common" if delegated else None)
    authority = _opt(profile, "authority")
    if not delegated and not authority and (not tenant or tenant.lower() in MULTI_TENANT_ALIASES):
        raise ConfigError(
            "app-only access (outlook://USER) needs the profile key tenant "
            "(your tenant ID or domain), not common/organizations"
        )
    url = resolve_authority(tenant or "common", authority)
    if delegated:
        cache = _opt(profile, "token_cache")
        return DelegatedTokens(
            client_id,
            tenant or "common",
            url,
            Path(cache).expanduser() if cache else default_cache_path(),
            http,
            account=_opt(profile, "account"),
        )
    return AppTokens(
        client_id,
        url,
        AppCredential(
            secret_env=_opt(profile, "client_secret_env"),
            certificate=_opt(profile, "client_certificate"),
            thumbprint=_opt(profile, "client_certificate_thumbprint"),
        ),
        http,
    )


def _graph_endpoint(profile: Mapping[str, Any]) -> str:
    url = str(
        profile.get("graph_endpoint")
        or os.environ.get(GRAPH_ENDPOINT_ENV)
        or DEFAULT_GRAPH_ENDPOINT
    ).rstrip("/")
    parts = urlsplit(url)
    # A bearer token must never travel in clear text, except to a local emulator or proxy.
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise ConfigError(f"graph_endpoint must be https (http only on loopback): {url!r}")
    if not parts.hostname:
        raise ConfigError(f"graph_endpoint has no host: {url!r}")
    return url


def _folder(value: object) -> str:
    folder = str(value or "").strip()
    if not folder:
        raise ConfigError("profile key folder must not be empty (use 'inbox' or 'all')")
    return folder


def _senders(value: object) -> tuple[str, ...]:
    items = (
        [value]
        if isinstance(value, str)
        else list(value)
        if isinstance(value, list | tuple)
        else None
    )
    if items is None or not all(isinstance(s, str) and _ADDRESS.match(s) for s in items):
        raise ConfigError("profile key senders must be a list of exact email addresses")
    return tuple(str(s).lower() for s in items)


def _page_size(value: object) -> int:
    try:
        size = int(str(value))
    except ValueError:
        size = 0
    if not 1 <= size <= 1000:  # Graph's documented $top range for messages
        raise ConfigError(f"profile key page_size must be 1..1000, got {value!r}")
    return size
