"""Gmail provider (``gmail://me``, ``gmail://USER``): Gmail API search and raw fetch, read-only.

How a search runs, and what it costs (P = page size, 50):

1. ``users.messages.list`` with ``q=from:(salesforce.com) [after:SINCE]`` (server-side narrowing),
   first page only.
2. One batch of ``messages.get(format=metadata)`` for the new ids: internalDate plus the headers
   the engine screens on (From, Subject, Date, Message-ID, Authentication-Results).
3. If the list had no next page, the slice is complete: yield it newest first by internalDate.
   Otherwise pick a cutoff near the page's oldest dates and prove the slice above it complete
   with one more list, ``after:CUTOFF``, then yield that part and continue with ``before:CUTOFF``.

messages.list is only roughly newest first and carries no dates, so the newest message is known
only once every candidate that could be newer has a date; the server's own date filter (not the
list order) is what proves that. A lookup whose newest candidate is a token mail therefore costs
3 HTTP round trips (list, metadata batch, raw get) when at most P messages match the sender
filter, 4 when more do (one ``after:`` list); 2 + n API method calls for n metadata gets. When
the newest candidate is not the answer, later bodies come in batches of raw gets (8, 16, up to
50; mail over 8 MB by sizeEstimate alone): see batch.py and inbox_finder.boundary.prefetch. An
expired access token adds one POST to the token endpoint. Scans (``sync_cursor``, a search
with ``after_cursor``) read the mailbox history instead: see history.py.

Errors: transient failures are retried within ``retry_max_seconds`` (inbox_finder.net.retry),
others translated at once: see api.py. googleapiclient, google-auth and httplib2 are imported
lazily.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote

from inbox_finder.boundary.folders import FolderScope, IteratorStream, merge_newest
from inbox_finder.boundary.keys import RETRY_KEYS, KeyType, ProfileKey, ProfileValues, Secret
from inbox_finder.boundary.prefetch import Body, BodyPrefetch
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.errors import AuthError, ConfigError, MailboxError, MessageVanishedError
from inbox_finder.model import Candidate, Finding, FolderRole, require_aware
from inbox_finder.net import tls
from inbox_finder.net.http import RATE_LIMIT_REASONS
from inbox_finder.net.retry import RetryPolicy

from . import auth as google_auth
from . import history as gmail_history
from .api import DEFAULT_RETRY, GmailApi
from .auth import AuthSettings
from .batch import MAX_BATCH, batch_get
from .history import Meta, parse_meta
from .labels import ROLES, Labels
from .slices import SliceSearch, from_clause

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "METADATA_HEADERS",
    "PAGE_SIZE",
    "RATE_LIMIT_REASONS",
    "GmailProvider",
]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://gmail.googleapis.com"
ENDPOINT_ENV = "INBOX_FINDER_GMAIL_ENDPOINT"
PAGE_SIZE = 50  # Google advises batches of at most 50 gets; one page fills one batch
METADATA_HEADERS = ("From", "Subject", "Date", "Message-ID", "Authentication-Results")
_MAILBOX = re.compile(r"[^\s/@:]+@[^\s/@:]+\.[^\s/@:]+")


class GmailProvider(Provider):
    """A Gmail mailbox read through the Gmail API with the gmail.readonly scope."""

    kind = "Gmail"
    login_command = "inbox_finder.providers.gmail.command:login_gmail"
    profile_keys = (
        ProfileKey("credentials", KeyType.PATH, secret=Secret.FILE, help="authorized-user JSON"),
        ProfileKey(
            "service_account_file", KeyType.PATH, secret=Secret.FILE, help="service account JSON"
        ),
        ProfileKey("subject", help="user a service account acts as (domain-wide delegation)"),
        ProfileKey("api_endpoint", help=f"Gmail API root (default {DEFAULT_ENDPOINT})"),
        ProfileKey("token_uri", help="OAuth token endpoint (default: the credentials file's)"),
        *RETRY_KEYS,
        ProfileKey("page_size", KeyType.INT, PAGE_SIZE, help="messages per list call (1-500)"),
    )

    def __init__(
        self, api: GmailApi, *, page_size: int = PAGE_SIZE, scope: FolderScope | None = None
    ) -> None:
        self._api = api
        self._user_id = api.user_id
        self._endpoint = api.endpoint
        self.page_size = page_size
        self.scope = scope or FolderScope()
        self._labels = Labels(self._api.call, self._user_id, self.source)
        self._sizes: dict[str, int] = {}  # sizeEstimate by id: large mail is never read ahead
        self._prefetch = BodyPrefetch(MAX_BATCH, size=lambda ref: self._sizes.get(ref, 0))

    @property
    def retry(self) -> RetryPolicy:
        """The backoff policy of every API call; public so embedders and tests can tune it."""
        return self._api.retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._api.retry = policy

    @classmethod
    def from_url(
        cls, url: str, options: SourceOptions, *, retry: RetryPolicy | None = None
    ) -> Self:
        """``gmail://me`` or ``gmail://USER@DOMAIN``; the other settings come from the profile."""
        scheme, sep, rest = url.partition("://")
        user = unquote(rest).strip().rstrip("/")
        user = "me" if user.lower() == "me" else user
        if scheme.lower() != "gmail" or not sep or not (user == "me" or _MAILBOX.fullmatch(user)):
            raise ConfigError(f"not a Gmail source: {url!r} (expected gmail://me or gmail://USER)")
        profile = cls.read_profile(options)
        endpoint = profile["api_endpoint"] or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
        if not re.match(r"https?://[^/\s]+", endpoint):
            raise ConfigError(f"Gmail api_endpoint must be an http(s) URL, not {endpoint!r}")
        creds: Path | None = profile["credentials"]
        sa_file: Path | None = profile["service_account_file"]
        auth = AuthSettings(
            credentials_file=creds or google_auth.default_credentials_path(user),
            credentials_explicit=creds is not None,
            token_uri=profile["token_uri"],
            service_account_file=sa_file,
            subject=profile["subject"] or (None if user == "me" else user),
        )
        page_size: int = profile["page_size"]
        if not 1 <= page_size <= 500:
            raise ConfigError("Gmail page_size must be between 1 and 500")
        policy = RetryPolicy.from_profile(profile, DEFAULT_RETRY)
        api = GmailApi(
            user_id=user,
            endpoint=endpoint.rstrip("/"),
            auth=auth,
            timeout=options.timeout,
            ca_file=tls.resolve_ca_file(options.ca_file, profile),
            retry=retry or policy,
        )
        return cls(api, page_size=page_size, scope=options.scope)

    @classmethod
    def describe_credentials(cls, url: str, profile: ProfileValues) -> dict[str, str]:
        """The file a lookup would read its credentials from (not read here)."""
        if profile["service_account_file"]:
            return {"credentials": f"service account file {profile['service_account_file']}"}
        user = unquote(url.partition("://")[2]).strip().rstrip("/")
        user = "me" if user.lower() in ("", "me") else user
        path = profile["credentials"] or google_auth.default_credentials_path(user)
        missing = "" if path.exists() else " (missing: run inbox-finder login gmail)"
        return {"credentials": f"file {path}{missing}"}

    @property
    def source(self) -> str:
        """The source URL (it never holds a secret)."""
        return f"gmail://{self._user_id}"

    # --- search ---------------------------------------------------------------------------

    def sync_cursor(self) -> str | None:
        """``gmail:<historyId>`` from users.getProfile: one call (see gmail_history)."""
        profile = self._api.call(
            "get profile",
            lambda api: api.users().getProfile(userId=self._user_id).execute(num_retries=0),
        )
        return gmail_history.make_cursor(profile.get("historyId"))

    def search(self, query: Query) -> Iterator[Candidate]:
        """Yield candidates strictly newest first by internalDate (see the module docstring).

        With ``after_cursor`` from ``sync_cursor`` only mail added since is read (history.list);
        an expired or foreign cursor falls back to the full search. Trash and Spam are
        searched too; labels restrict the search as labels.py describes.
        """
        since = require_aware(query.since, "since") if query.since is not None else None
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        scope = self._labels.scope([self.scope, query.scope])
        self._prefetch.reset(query.sender_domains)
        if scope.nothing:
            return
        start = gmail_history.parse_cursor(query.after_cursor)
        if start is not None:
            try:
                ids = gmail_history.added_ids(self._api.call, self._user_id, start, scope)
            except gmail_history.HistoryUnavailable as exc:
                log.info("%s; searching the whole mailbox", exc)
            else:
                metas = self.metadata(ids)
                found = gmail_history.candidates(metas, since_ms, query.sender_domains, scope)
                yield from self._prefetch.note(found)
                return
        base = [from_clause(query.sender_domains)] if query.sender_domains else []
        labels: list[str | None] = list(scope.include) or [None]

        def one(label: str | None) -> Iterator[Candidate]:
            return SliceSearch(self, base, since_ms, label, scope).run()

        if len(labels) == 1:
            yield from one(labels[0])
            return
        streams = [IteratorStream(one(x)) for x in labels]
        seen: set[str] = set()
        for candidate in merge_newest(streams):
            if candidate.ref not in seen:  # a message carrying two of the labels
                seen.add(candidate.ref)
                yield candidate

    def list_page(
        self, q: str, page_token: str | None = None, label: str | None = None
    ) -> tuple[list[str], str | None]:
        # includeSpamTrash: messages.list leaves Trash and Spam out by default.
        args: dict[str, Any] = {
            "userId": self._user_id,
            "q": q,
            "maxResults": self.page_size,
            "includeSpamTrash": True,
        }
        if label is not None:
            args["labelIds"] = [label]
        if page_token:
            args["pageToken"] = page_token
        resp = self._api.call(
            "list messages", lambda api: api.users().messages().list(**args).execute(num_retries=0)
        )
        ids = [m["id"] for m in resp.get("messages") or [] if isinstance(m, dict) and "id" in m]
        token = resp.get("nextPageToken") or None
        log.debug("Gmail list q=%r: %d ids%s", q, len(ids), " (more)" if token else "")
        return ids, token

    def ahead(self, candidates: Iterable[Candidate]) -> Iterator[Candidate]:
        """Yield a slice's candidates, noting their order for reading bodies ahead."""
        return self._prefetch.note(candidates)

    def list_all(
        self, q: str, page_token: str | None = None, label: str | None = None
    ) -> Iterator[list[str]]:
        """Every page of one list query."""
        while True:
            ids, page_token = self.list_page(q, page_token, label)
            yield ids
            if page_token is None:
                return

    def metadata(self, ids: list[str]) -> dict[str, Meta]:
        """internalDate and screening headers for ``ids``, one batch round trip per 50."""

        def build(service: Any, msg_id: str) -> Any:
            return (
                service.users()
                .messages()
                .get(
                    userId=self._user_id,
                    id=msg_id,
                    format="metadata",
                    metadataHeaders=list(METADATA_HEADERS),
                    fields="id,internalDate,labelIds,sizeEstimate,payload/headers",
                )
            )

        def parse(msg_id: str, answer: Any) -> Meta:
            try:
                return parse_meta(answer)
            except (KeyError, TypeError, ValueError) as exc:
                raise MailboxError(f"Gmail returned no internalDate for {msg_id}") from exc

        found, _ = batch_get(self._api, ids, "get message metadata", build, parse)
        self._sizes.update((i, m.size) for i, m in found.items())
        return found

    def describe_folder(self, finding: Finding) -> tuple[str | None, FolderRole | None]:
        """The label of a finding by name (one labels.list call, only for a user label)."""
        label = finding.folder
        if label is None:
            return None, None
        try:
            return self._labels.name(label), ROLES.get(label)
        except (AuthError, MailboxError) as exc:  # the token was read; only the name is unknown
            log.warning("cannot name the label of a finding: %s", exc)
            return label, ROLES.get(label)

    # --- fetch ----------------------------------------------------------------------------

    def fetch(self, candidate: Candidate) -> bytes:
        """Raw RFC 822 bytes via messages.get(format=raw); the mailbox is not changed.

        The first body of a search is read alone, later ones in batches with the next
        candidates' (inbox_finder.boundary.prefetch).
        """
        return self._prefetch.fetch(candidate, self._fetch_one, self._fetch_many)

    def _fetch_one(self, candidate: Candidate) -> bytes:
        msg = self._api.call(
            "get message",
            lambda api: (
                api.users()
                .messages()
                .get(userId=self._user_id, id=candidate.ref, format="raw")
                .execute(num_retries=0)
            ),
            missing=self._vanished(candidate.ref),
        )
        return _decode_raw(candidate.ref, msg)

    def _fetch_many(self, candidates: list[Candidate]) -> dict[str, Body]:
        """Raw bytes of ``candidates`` in one batch; a vanished one maps to its error."""

        def build(service: Any, msg_id: str) -> Any:
            return service.users().messages().get(userId=self._user_id, id=msg_id, format="raw")

        ids = [c.ref for c in candidates]
        found, gone = batch_get(self._api, ids, "get message", build, _decode_raw)
        out: dict[str, Body] = dict(found)
        out.update((i, MessageVanishedError(self._vanished(i))) for i in gone)
        return out

    def _vanished(self, msg_id: str) -> str:
        return f"Gmail message {msg_id} vanished from {self.source} before it was read (HTTP 404)"

    def close(self) -> None:
        """Save a token refreshed during the session and drop the connections."""
        self._api.close()


def _decode_raw(msg_id: str, msg: Any) -> bytes:
    """The bytes of a messages.get(format=raw) answer."""
    raw = msg.get("raw") if isinstance(msg, dict) else None
    if not isinstance(raw, str):
        raise MailboxError(f"Gmail returned no raw content for message {msg_id}")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError as exc:
        raise MailboxError(f"Gmail returned undecodable raw content for {msg_id}") from exc
