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

A lookup whose newest candidate is the token mail costs two Graph calls: one list, one $value;
when it is not, the next candidates' bodies come in ``$batch`` calls of up to 20 (bodies.py).

Scans: ``sync_cursor`` is ONE list call; a search after its cursor starts at the cursor's time
(less a slack) and skips the mails the cursor names (see cursor.py).

Errors: transient failures are retried under the provider's retry policy (inbox_finder.net.retry;
the identity endpoint too), all others mapped to the inbox_finder errors at once (see graph.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

from inbox_finder.boundary.folders import FolderInfo, FolderScope, IteratorStream, merge_newest
from inbox_finder.boundary.keys import ProfileValues
from inbox_finder.boundary.prefetch import Body, BodyPrefetch
from inbox_finder.boundary.provider import Provider, Query, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError
from inbox_finder.model import Candidate, Finding, FolderRole
from inbox_finder.net import tls
from inbox_finder.net.retry import RetryPolicy

from .auth import (
    MULTI_TENANT_ALIASES,
    AppCredential,
    AppTokens,
    DelegatedTokens,
    TokenSource,
    default_cache_path,
    resolve_authority,
)
from .bodies import MAX_BATCH as BODY_BATCH
from .bodies import fetch_bodies
from .cursor import (
    CURSOR_PREFIX,
    CURSOR_PROBE,
    CURSOR_TIME,
    DELIVERY_SLACK,
    After,
    id_hash,
    make_cursor,
    parse_cursor,
    scope_hash,
)
from .folders import GraphFolders
from .graph import (
    DEFAULT_RETRY,
    UNKNOWN_MAILBOX_CODES,
    GraphClient,
    MsalHttp,
    json_object,
    make_session,
    raw_body,
)
from .items import from_address, header_block, odata_quote, parse_received
from .profile import (
    ADDRESS,
    DEFAULT_GRAPH_ENDPOINT,
    DEFAULT_PAGE_SIZE,
    GRAPH_ENDPOINT_ENV,
    PROFILE_KEYS,
    check_page_size,
    check_senders,
    describe_credentials,
    graph_endpoint,
)

if TYPE_CHECKING:
    import requests

__all__ = [
    "CURSOR_PREFIX",
    "CURSOR_PROBE",
    "CURSOR_TIME",
    "DEFAULT_GRAPH_ENDPOINT",
    "DEFAULT_PAGE_SIZE",
    "DELIVERY_SLACK",
    "GRAPH_ENDPOINT_ENV",
    "NO_LOWER_BOUND",
    "SELECT",
    "UNKNOWN_MAILBOX_CODES",
    "OutlookProvider",
    "header_block",
    "parse_received",
]

log = logging.getLogger(__name__)

SELECT = "id,receivedDateTime,from,subject,internetMessageId,parentFolderId"
WHOLE = "all"  # the profile key folder's value for the whole mailbox (also the default)
NO_LOWER_BOUND = "1900-01-01T00:00:00Z"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class OutlookProvider(Provider):
    """A read-only Microsoft 365 / Outlook.com mailbox via Graph v1.0."""

    kind = "Outlook / Microsoft 365"
    login_command = "inbox_finder.providers.outlook.command:login_outlook"
    profile_keys = PROFILE_KEYS

    def __init__(
        self,
        *,
        mailbox: str | None,
        tokens: TokenSource,
        session: requests.Session,
        graph_endpoint: str = DEFAULT_GRAPH_ENDPOINT,
        folder: str = WHOLE,
        senders: tuple[str, ...] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        scope: FolderScope | None = None,
    ) -> None:
        self.mailbox = mailbox  # None: the signed-in user (/me)
        self.graph_endpoint = graph_endpoint.rstrip("/")
        # The profile key folder ("all": the whole mailbox) unless --folder replaced it.
        self.scope = scope or FolderScope(() if folder.lower() == WHOLE else (folder,))
        self.folder = "+".join(self.scope.include) or WHOLE
        if self.scope.exclude:
            self.folder += "-" + "-".join(self.scope.exclude)
        self.senders = senders
        self.page_size = page_size
        self._root = "/me" if mailbox is None else f"/users/{quote(mailbox, safe='@')}"
        self._graph = GraphClient(
            session=session,
            tokens=tokens,
            timeout=timeout,
            retry=retry or DEFAULT_RETRY,
            source=self.source,
            folder=self.folder,
        )
        self._folders = GraphFolders(self._graph, self.graph_endpoint, self._root, self.source)
        self._parents: dict[str, str] = {}  # message id -> parentFolderId, for findings
        self._prefetch = BodyPrefetch(BODY_BATCH)

    @property
    def tokens(self) -> TokenSource:
        """Where each Graph request's access token comes from."""
        return self._graph.tokens

    @property
    def timeout(self) -> float:
        """Seconds one Graph answer may take."""
        return self._graph.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The backoff for transient failures; public so embedders and tests can tune it (e.g. a
        no-op sleep)."""
        return self._graph.retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._graph.retry = policy
        http = getattr(self._graph.tokens, "http", None)
        if isinstance(http, MsalHttp):  # the identity endpoint shares Graph's policy
            http.retry = policy

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
        if not delegated and not (ADDRESS.match(target) or _GUID.match(target)):
            raise ConfigError(f"outlook mailbox must be 'me', USER@DOMAIN or a user id: {target!r}")
        profile = cls.read_profile(options)
        # Validate every key before opening anything.
        graph = graph_endpoint(profile)
        folder = profile["folder"]
        senders = check_senders(profile["senders"])
        page_size = check_page_size(profile["page_size"])
        retry = RetryPolicy.from_profile(profile, DEFAULT_RETRY)
        session = make_session(tls.resolve_ca_file(options.ca_file, profile))
        tokens = _token_source(profile, delegated, MsalHttp(session, options.timeout, retry))
        return cls(
            mailbox=None if delegated else target,
            tokens=tokens,
            session=session,
            graph_endpoint=graph,
            folder=folder,
            senders=senders,
            page_size=page_size,
            timeout=options.timeout,
            retry=retry,
            scope=FolderScope(options.folders or _included(folder), options.exclude_folders),
        )

    @classmethod
    def describe_credentials(cls, url: str, profile: ProfileValues) -> dict[str, str]:
        """The token cache (``outlook://me``) or the app credential a lookup would use."""
        return describe_credentials(url, profile)

    @property
    def source(self) -> str:
        """The source URL; it never contains credentials."""
        return f"outlook://{self.mailbox or 'me'}"

    def _messages_url(self, folder: FolderInfo | None = None) -> str:
        """``/messages`` (every folder) or ``/mailFolders/{id}/messages`` (that one)."""
        if folder is None:
            return f"{self.graph_endpoint}{self._root}/messages"
        key = quote(folder.key, safe="=")
        return f"{self.graph_endpoint}{self._root}/mailFolders/{key}/messages"

    def _scope(self) -> str:
        """Tags a cursor with what the search covers: the folders and the sender filter."""
        return scope_hash(self.folder, self.senders)

    def _listed_folders(self, query: Query) -> list[FolderInfo | None]:
        """One list per named folder, or [None]: the whole mailbox in one /messages list."""
        return list(self._folders.included([self.scope, query.scope])) or [None]

    def sync_cursor(self) -> str | None:
        """The newest receivedDateTime of the searched folders and the ids received then."""
        probe = {"$select": "id,receivedDateTime", "$top": str(CURSOR_PROBE)}
        params = {**self.list_params(Query()), **probe}
        dated = []
        for folder in self._listed_folders(Query()):
            url = self._messages_url(folder)
            page = self._graph.get(url, params, what="list", decode=json_object)
            items = page.get("value") or []
            dated += [
                (parse_received(i.get("receivedDateTime")), str(i.get("id", ""))) for i in items
            ]
        return make_cursor(self._scope(), dated)

    def list_params(self, query: Query) -> dict[str, str]:
        """The first page's query: date bound first (it must lead, see module doc)."""
        floor = query.since.astimezone(UTC) if query.since else None
        after = parse_cursor(query.after_cursor, self._scope())
        if after is not None and after.floor is not None and (floor is None or after.floor > floor):
            floor = after.floor
        since = floor.strftime("%Y-%m-%dT%H:%M:%SZ") if floor else NO_LOWER_BOUND
        flt = f"receivedDateTime ge {since}"
        if self.senders:
            ors = " or ".join(
                f"from/emailAddress/address eq {odata_quote(s)}" for s in self.senders
            )
            flt += f" and ({ors})"
        return {
            "$filter": flt,
            "$orderby": "receivedDateTime desc",
            "$select": SELECT,
            "$top": str(self.page_size),
        }

    def search(self, query: Query) -> Iterator[Candidate]:
        """Yield candidates newest first (merged across named folders), following
        @odata.nextLink as given."""
        after = parse_cursor(query.after_cursor, self._scope())
        if query.after_cursor and after is None:
            log.info("the stored sync cursor is for another folder or sender filter; full search")
        folders = self._listed_folders(query)
        self._prefetch.reset(query.sender_domains)
        skipped = self._folders.excluded_ids([self.scope, query.scope])
        if len(folders) == 1:
            yield from self._list(folders[0], query, after, skipped)
            return
        streams = [IteratorStream(self._list(f, query, after, skipped)) for f in folders]
        yield from merge_newest(streams)

    def _list(
        self, folder: FolderInfo | None, query: Query, after: After | None, skipped: frozenset[str]
    ) -> Iterator[Candidate]:
        domains = tuple(d.lower() for d in query.sender_domains)
        # Mails the cursor names were searched by the scan that took it: skip, not re-download.
        seen = after.seen if after is not None else frozenset()
        url: str | None = self._messages_url(folder)
        params: dict[str, str] | None = self.list_params(query)
        listed: set[str] = set()
        while url:
            page = self._graph.get(url, params, what="list", decode=json_object)
            params = None  # the nextLink already carries every query option
            held: list[Candidate] = []
            for item in page.get("value", []):
                ref = str(item.get("id", ""))
                if not ref or ref in listed:  # $skip paging repeats items when new mail lands
                    continue
                listed.add(ref)
                parent = str(item.get("parentFolderId") or "")
                if (seen and id_hash(ref) in seen) or parent in skipped:
                    continue
                if domains and not any(d in from_address(item) for d in domains):
                    continue
                self._parents[ref] = parent
                held.append(
                    Candidate(
                        ref=ref,
                        received=parse_received(item.get("receivedDateTime")),
                        received_source="server",
                        headers=header_block(item),
                        folder_role=folder.role if folder is not None else None,
                    )
                )
            yield from self._prefetch.note(held)
            next_link = page.get("@odata.nextLink")
            url = str(next_link) if next_link else None

    def describe_folder(self, finding: Finding) -> tuple[str | None, FolderRole | None]:
        """The finding's folder by displayName (one $batch call per folder, cached)."""
        return self._folders.describe(self._parents.get(finding.ref or ""))

    def fetch(self, candidate: Candidate) -> bytes:
        """The raw MIME of one message (``GET .../messages/{id}/$value``); never modifies it.
        The first body of a search is read alone, later ones in ``$batch`` requests with the
        next candidates' (inbox_finder.boundary.prefetch, bodies.py)."""
        return self._prefetch.fetch(candidate, self._fetch_one, self._fetch_many)

    def _fetch_one(self, candidate: Candidate) -> bytes:
        url = f"{self.graph_endpoint}{self._root}/messages/{quote(candidate.ref, safe='=')}/$value"
        return self._graph.get(url, None, what="fetch", decode=raw_body)

    def _fetch_many(self, candidates: list[Candidate]) -> dict[str, Body]:
        refs = [c.ref for c in candidates]
        return fetch_bodies(self._graph, self.graph_endpoint, self._root, refs, self.source)

    def close(self) -> None:
        """Drop pooled connections."""
        self._graph.close()


def _token_source(profile: ProfileValues, delegated: bool, http: MsalHttp) -> TokenSource:
    """Delegated cache for outlook://me, client credentials for a named mailbox."""
    client_id = profile["client_id"]
    if not client_id:
        raise ConfigError(
            "outlook sources need the profile key client_id "
            "(the Entra app registration's application ID)"
        )
    tenant = profile["tenant"] or ("common" if delegated else None)
    authority = profile["authority"]
    if not delegated and not authority and (not tenant or tenant.lower() in MULTI_TENANT_ALIASES):
        raise ConfigError(
            "app-only access (outlook://USER) needs the profile key tenant "
            "(your tenant ID or domain), not common/organizations"
        )
    url = resolve_authority(tenant or "common", authority)
    if delegated:
        cache: Path | None = profile["token_cache"]
        return DelegatedTokens(
            client_id,
            tenant or "common",
            url,
            cache or default_cache_path(),
            http,
            account=profile["account"],
        )
    return AppTokens(
        client_id,
        url,
        AppCredential(
            secret_env=profile["client_secret_env"],
            certificate=_str_or_none(profile["client_certificate"]),
            thumbprint=profile["client_certificate_thumbprint"],
        ),
        http,
    )


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _included(folder: str) -> tuple[str, ...]:
    return () if folder.lower() == WHOLE else (folder,)
