"""IMAP mailboxes: ``imaps://USER@HOST[:PORT][/FOLDER]`` (TLS) and ``imap://…`` (STARTTLS).

Scope: the whole mailbox — every selectable folder from one LIST (nested, non-ASCII, Archive,
Trash, Junk; on Gmail ``\\All`` + ``\\Trash`` + ``\\Junk``: see folders.py) — unless the URL
names a folder or ``--folder`` / ``--exclude-folder`` restrict it. Messages flagged
``\\Deleted`` but not expunged are still in their folder and count. Folders that LIST-STATUS
reports empty are never opened.

Strictly read-only: each folder is opened with EXAMINE and messages are read with
``BODY.PEEK[…]``, so not even ``\\Seen`` changes. Per folder the server narrows and orders the
candidates (see search.py); across folders they are merged newest first by INTERNALDATE
(``merge_newest``), reading header blocks only of the folders the merge consumes, 25 at a time;
a whole message is only downloaded by ``fetch``. Every imapclient/ssl/socket error is
translated at this boundary into the inbox_finder error tree; connecting, logging in and
retrying transient faults live in ``session.py`` (profile keys ``retries``, ``retry_backoff``),
the response-code table in ``codes.py``.

Server quirks recorded here:

- imapclient raises imaplib's debug level to 5, which dumps untagged FETCH data — message
  bodies — into the ``imapclient.imaplib`` logger. We lower it to 4 (commands and response
  lines, literals only by size) and route it through our own redacting logger.
- Dovecot treats loopback connections as "secured" and will accept LOGIN without TLS there;
  we never rely on that: ``imap://`` always requires STARTTLS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient, SocketTimeout

from inbox_finder.boundary.folders import (
    FolderInfo,
    FolderScope,
    find_folder,
    merge_newest,
    missing_folder,
    role_from_name,
)
from inbox_finder.boundary.keys import (
    OAUTH_TOKEN_KEYS,
    PASSWORD_KEYS,
    RETRY_KEYS,
    KeyType,
    ProfileKey,
    ProfileValues,
)
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.errors import ConfigError, FolderNotFoundError, MailboxError
from inbox_finder.model import Candidate
from inbox_finder.net import tls
from inbox_finder.net.retry import RetryPolicy
from inbox_finder.secret_sources import describe_secret, imap_password_sources, oauth_token_sources

from .bodies import Bodies
from .cursor import Pair, make_cursor, parse_cursor
from .folders import Listing, list_folders, searched_folders
from .search import FolderSearch, FolderStream, gmail_raw_query, search_criteria, ties_by_uid
from .session import DEFAULT_RETRY, ImapSession, ImapUrl

__all__ = ["ImapProvider", "ImapUrl", "gmail_raw_query", "parse_imap_url", "search_criteria"]

log = logging.getLogger("inbox_finder.providers.imap")

AUTH_CHOICES = ("password", "xoauth2")  # LOGIN with a password, or AUTHENTICATE XOAUTH2
IDLE_RENEW = 9 * 60  # seconds; RFC 2177 lets servers end an IDLE after 30 minutes


def parse_imap_url(url: str) -> ImapUrl:
    """Parse ``imap[s]://USER@HOST[:PORT][/FOLDER]`` strictly; ConfigError on anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"malformed IMAP URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ConfigError(f"not an IMAP URL (expected imaps:// or imap://): scheme {scheme!r}")
    if not url[len(parts.scheme) :].startswith("://"):
        raise ConfigError(f"IMAP URLs look like {scheme}://USER@HOST[:PORT][/FOLDER]")
    if parts.password is not None:
        raise ConfigError(
            "never put the password in the URL; use INBOX_FINDER_PASSWORD, a profile's "
            "password_env or password_cmd, or the keyring"
        )
    if not parts.username:
        raise ConfigError(f"IMAP URL needs a user: {scheme}://USER@HOST[:PORT][/FOLDER]")
    if not parts.hostname:
        raise ConfigError(f"IMAP URL needs a host: {scheme}://USER@HOST[:PORT][/FOLDER]")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigError("IMAP URL takes no ?query or #fragment (write ? and # as %3F and %23)")
    try:
        user = unquote(parts.username, errors="strict")
        folder = unquote(parts.path.removeprefix("/").removesuffix("/"), errors="strict")
    except UnicodeDecodeError as exc:
        raise ConfigError("IMAP URL has percent-escapes that are not UTF-8") from exc
    implicit = scheme == "imaps"
    return ImapUrl(
        implicit_tls=implicit,
        user=user,
        host=parts.hostname,
        port=port if port is not None else (993 if implicit else 143),
        folder=folder or None,
    )


def _positive(value: float, key: str) -> float:
    if value <= 0:
        raise ConfigError(f"profile key {key} must be a positive number of seconds")
    return float(value)


def _nothing(client: IMAPClient) -> None:
    """An operation that only needs the folder EXAMINEd."""


def _idle(client: IMAPClient, timeout: float, stop: threading.Event) -> bool | None:
    """IDLE until EXISTS/RECENT arrives, ``timeout`` passes or ``stop`` is set.

    Servers may drop an IDLE after 30 minutes (RFC 2177), so it is re-issued every 9; ``stop``
    is checked every second so SIGTERM ends the wait promptly.
    """
    if not client.has_capability("IDLE"):
        return None
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        client.idle()
        renew = min(deadline, time.monotonic() + IDLE_RENEW)
        try:
            while not stop.is_set() and time.monotonic() < renew:
                left = max(0.0, min(1.0, renew - time.monotonic()))
                for response in client.idle_check(timeout=left):
                    if len(response) > 1 and response[1] in (b"EXISTS", b"RECENT"):
                        log.debug("IDLE: %s %s", response[0], response[1].decode())
                        return True
        finally:
            client.idle_done()
    return False


class ImapProvider(Provider):
    """A read-only IMAP folder; one lazily opened connection per provider."""

    kind = "IMAP"
    profile_keys = (
        *PASSWORD_KEYS,
        *OAUTH_TOKEN_KEYS,
        ProfileKey("auth", default="password", choices=AUTH_CHOICES, help="how to log in"),
        ProfileKey("connect_timeout", KeyType.FLOAT, help="seconds to connect (default timeout)"),
        *RETRY_KEYS,
    )

    def __init__(
        self,
        url: ImapUrl,
        *,
        ca_file: str | None = None,
        connect_timeout: float = 30.0,
        read_timeout: float = 30.0,
        profile: Mapping[str, Any] | None = None,
        scope: FolderScope | None = None,
    ) -> None:
        self.url = url
        profile = self.read_profile(SourceOptions(profile=profile or {}))
        auth = profile["auth"]
        # The URL's folder is the scope unless --folder / the profile's folders replace it.
        self.scope = scope or FolderScope((url.folder,) if url.folder else ())
        self._listing: Listing | None = None
        self._status: dict[str, Pair] | None = None  # STATUS answers of sync_cursor()
        self._keep_listing = False  # the next search uses the listing sync_cursor() just made
        self._bodies = Bodies(lambda folder, doing, op: self._in(folder, doing, op))
        self._conn = ImapSession(
            url,
            ca_file=ca_file,
            timeout=SocketTimeout(connect=connect_timeout, read=read_timeout),
            profile=profile,
            auth=auth,
            retry=RetryPolicy.from_profile(profile, DEFAULT_RETRY),
        )

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        parsed = parse_imap_url(url)
        profile = cls.read_profile(options)
        read_timeout = _positive(options.timeout, "timeout")
        connect = profile["connect_timeout"]
        connect_timeout = read_timeout if connect is None else _positive(connect, "connect_timeout")
        scope = options.scope
        if not scope.include and parsed.folder:
            scope = FolderScope((parsed.folder,), scope.exclude)
        return cls(
            parsed,
            scope=scope,
            ca_file=tls.resolve_ca_file(options.ca_file, profile),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            profile=profile,
        )

    @classmethod
    def describe_credentials(cls, url: str, profile: ProfileValues) -> dict[str, str]:
        """Where the password (or XOAUTH2 token) would come from; nothing is looked up."""
        if profile["auth"] == "xoauth2":
            return {"oauth token": describe_secret(oauth_token_sources(profile))}
        parsed = parse_imap_url(url)
        sources = imap_password_sources(parsed.user, parsed.host, profile)
        return {"password": describe_secret(sources)}

    @property
    def source(self) -> str:
        return self.url.display()

    def source_aliases(self) -> tuple[str, ...]:
        """A URL without a folder meant INBOX before the whole mailbox was the default."""
        return (self.url.display("INBOX"),) if self.url.folder is None else ()

    @property
    def _timeout(self) -> SocketTimeout:
        return self._conn.timeout

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        """Translate library errors into the inbox_finder tree (see ImapSession.errors)."""
        return self._conn.errors(doing)

    def close(self) -> None:
        self._bodies.forget(())  # a later fetch re-checks UIDVALIDITY on its new connection
        self._conn.close()

    # ------------------------------------------------------------------ folders

    def _in(
        self, folder: str | None, doing: str, op: Any, fresh: bool = False, ahead: Any = None
    ) -> Any:
        """``op(client)`` with ``folder`` EXAMINEd (None: none needed), retried (session.py)."""
        self._conn.folder = folder
        return self._conn.run(doing, op, fresh=fresh, ahead=ahead)

    def listing(self) -> Listing:
        """Every selectable folder (one LIST per provider; LIST-STATUS where offered)."""
        if self._listing is None:
            self._listing = self._in(None, "listing folders", list_folders)
        return self._listing

    def _chosen(self, query: Query) -> list[FolderInfo]:
        """The folders in scope, in merge order (INBOX first, trash and junk last)."""
        named = self.scope.include
        if len(named) == 1 and not self.scope.exclude and query.scope.whole:
            # One named folder is opened by name without a LIST; if it does not open it is
            # looked up in a LIST (spelling, case) and reported with the folders that exist.
            name = named[0]
            return [FolderInfo(name, name, role_from_name(name) or role_from_name(name, "."))]
        return searched_folders(self.listing(), [self.scope, query.scope], self.source)

    def _folders(self, query: Query) -> list[FolderInfo]:
        """The folders a search opens: those in scope that are not known to be unchanged or
        empty (LIST-STATUS, or the STATUS answers of this provider's ``sync_cursor``)."""
        chosen = self._chosen(query)
        old = parse_cursor(query.after_cursor, self.url.folder or "INBOX")
        known = self._status if self._status is not None else self._listed_pairs()
        skip = {
            f.name
            for f in chosen
            if old is not None and f.key in known and old.get(f.name) == known[f.key]
        }
        if self._listing is not None:
            skip |= {
                f.name
                for f in chosen
                if (st := self._listing.status.get(f.key)) and st.messages == 0
            }
        if skip:
            log.debug("not opening %d unchanged or empty folders", len(skip))
        return [f for f in chosen if f.name not in skip]

    def _listed_pairs(self) -> dict[str, Pair]:
        if self._listing is None:
            return {}
        return {
            name: (st.uidvalidity, st.uidnext)
            for name, st in self._listing.status.items()
            if st.uidvalidity is not None and st.uidnext is not None
        }

    def _open_named(self, folder: FolderInfo, op: Any) -> Any:
        """Run ``op`` for a folder named by the user; a missing one is resolved or reported."""
        try:
            return op(folder)
        except FolderNotFoundError:
            listing = self.listing()
            found = find_folder(folder.name, listing.folders)
            if found is None or found.key == folder.key:
                raise missing_folder(folder.name, listing.folders, self.source) from None
            return op(found)

    # ------------------------------------------------------------------ search and fetch

    def sync_cursor(self) -> str | None:
        """UIDVALIDITY and UIDNEXT of every folder in scope (see cursor.py): one LIST-STATUS,
        else one STATUS per folder (one EXAMINE for a single named folder)."""
        self._listing = None  # a fresh LIST (LIST-STATUS) for every cursor
        folders = self._chosen(Query())
        if self._listing is None:  # one named folder, no LIST: its EXAMINE answer
            folder = folders[0]
            self._open_named(folder, lambda f: self._in(f.key, "opening the folder", _nothing))
            validity, uidnext = self._conn.uidvalidity, self._conn.uidnext
            self._status = {}
            if validity is not None and uidnext is not None:
                self._status[folder.key] = (validity, uidnext)
            self._keep_listing = True
            return make_cursor({folder.name: self._status.get(folder.key)})
        pairs = self._listed_pairs()
        if any(f.key not in pairs for f in folders):  # no LIST-STATUS: STATUS per folder
            pairs = {f.key: p for f in folders if (p := self._folder_status(f)) is not None}
        self._status, self._keep_listing = pairs, True
        return make_cursor({f.name: pairs.get(f.key) for f in folders})

    def _folder_status(self, folder: FolderInfo) -> Pair | None:
        what = ["UIDVALIDITY", "UIDNEXT"]
        got = self._in(
            None, "asking a folder's status", lambda c: c.folder_status(folder.key, what)
        )
        validity, uidnext = got.get(b"UIDVALIDITY"), got.get(b"UIDNEXT")
        return (
            (validity, uidnext) if isinstance(validity, int) and isinstance(uidnext, int) else None
        )

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool | None:
        """IMAP IDLE (RFC 2177) on INBOX (or the first named folder): True on new mail."""
        folder = self.url.folder or "INBOX"
        changed: bool | None = self._in(
            folder, "waiting in IDLE", lambda c: _idle(c, timeout, stop)
        )
        return changed

    def _first_new_uid(self, folder: FolderInfo, cursor: str | None) -> int | None:
        """The UID new mail starts at in ``folder`` (EXAMINEd), if the cursor knows its epoch."""
        old = parse_cursor(cursor, self.url.folder or "INBOX")
        pair = old.get(folder.name) if old is not None else None
        if pair is None:
            return None
        if pair[0] != self._conn.uidvalidity:
            log.info(
                "UIDVALIDITY of %r changed since the last scan; searching it whole", folder.name
            )
            return None
        return pair[1]

    def search(self, query: Query) -> Iterator[Candidate]:
        """Candidates of every searched folder, newest first by INTERNALDATE across them."""
        if not self._keep_listing:  # a folder created since an earlier search must be seen
            self._listing, self._status = None, None
        self._keep_listing = False
        self._bodies.forget(query.sender_domains)
        folders = self._folders(query)
        if len(folders) == 1:
            folder = folders[0]
            found = self._open_named(folder, lambda f: self._folder_search(f, query).run())
            return ties_by_uid(found.candidates())
        return merge_newest([FolderStream(self._folder_search(f, query)) for f in folders])

    def _folder_search(self, folder: FolderInfo, query: Query) -> FolderSearch:
        def first_uid() -> int | None:
            return self._first_new_uid(folder, query.after_cursor)

        return FolderSearch(
            self._in,
            folder,
            query,
            first_uid,
            lambda: self._conn.uidnext,
            self._conn.take_ahead,
            self._bodies,
        )

    def fetch(self, candidate: Candidate) -> bytes:
        try:
            uid = int(candidate.ref)
        except ValueError:
            raise MailboxError(f"not an IMAP message reference: {candidate.ref!r}") from None
        folder = candidate.folder or self.url.folder or "INBOX"
        if candidate.ref != str(uid):  # the read-ahead keys are the canonical UID strings
            candidate = replace(candidate, ref=str(uid))
        return self._bodies.fetch(folder, candidate)  # see bodies.py
