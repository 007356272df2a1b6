"""IMAP mailboxes: ``imaps://USER@HOST[:PORT][/FOLDER]`` (TLS) and ``imap://…`` (STARTTLS).

Strictly read-only: the folder is opened with EXAMINE and messages are read with
``BODY.PEEK[…]``, so not even ``\\Seen`` changes. Candidates come from a server-side SEARCH
(FROM each sender domain, SINCE the day before ``query.since``), are ordered by INTERNALDATE
(newest first, then UID), and carry their header block, fetched lazily 25 at a time; a whole
message is only downloaded by ``fetch``. Every imapclient/ssl/socket error is translated at
this boundary into the inbox_finder error tree; connecting, logging in and retrying
transient faults live in ``session.py`` (profile keys ``retries``, ``retry_backoff``), the
response-code table in ``codes.py``.

Server quirks recorded here:

- SEARCH SINCE compares dates in the *server's* time zone, so we ask from the day before and
  filter exactly on INTERNALDATE.
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
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient, SocketTimeout

from inbox_finder.boundary.keys import (
    OAUTH_TOKEN_KEYS,
    PASSWORD_KEYS,
    RETRY_KEYS,
    KeyType,
    ProfileKey,
    ProfileValues,
)
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.errors import ConfigError, MailboxError, MessageVanishedError
from inbox_finder.model import Candidate
from inbox_finder.net import tls
from inbox_finder.net.retry import RetryPolicy
from inbox_finder.secret_sources import describe_secret, imap_password_sources, oauth_token_sources

from .session import DEFAULT_RETRY, ImapSession, ImapUrl

__all__ = ["ImapProvider", "ImapUrl", "gmail_raw_query", "parse_imap_url", "search_criteria"]

log = logging.getLogger("inbox_finder.providers.imap")

AUTH_CHOICES = ("password", "xoauth2")  # LOGIN with a password, or AUTHENTICATE XOAUTH2
IDLE_RENEW = 9 * 60  # seconds; RFC 2177 lets servers end an IDLE after 30 minutes
HEADER_BATCH = 25  # header blocks per FETCH while the consumer iterates
DATE_BATCH = 500  # UIDs per FETCH INTERNALDATE (keeps command lines far below server limits)


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
        folder=folder or "INBOX",
    )


def _positive(value: float, key: str) -> float:
    if value <= 0:
        raise ConfigError(f"profile key {key} must be a positive number of seconds")
    return float(value)


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise MailboxError(f"server sent an unreadable INTERNALDATE: {value!r:.60}")
    # normalise_times=False gives aware datetimes; a naive one would be the server's UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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


def _ties_by_uid(candidates: Iterator[Candidate]) -> Iterator[Candidate]:
    """Within one INTERNALDATE second, highest UID (added last) first, as with SEARCH.

    SORT breaks ARRIVAL ties by ascending sequence number (RFC 5256); the one-candidate
    look-ahead this needs never fetches more than the next header batch.
    """
    group: list[Candidate] = []
    for candidate in candidates:
        if group and candidate.received != group[0].received:
            yield from sorted(group, key=lambda c: int(c.ref), reverse=True)
            group = []
        group.append(candidate)
    yield from sorted(group, key=lambda c: int(c.ref), reverse=True)


def search_criteria(query: Query) -> list[Any]:
    """Standard SEARCH keys: OR'ed FROM per sender domain, plus SINCE the day before."""
    criteria: list[Any] = []
    domains = list(query.sender_domains)
    for domain in domains[:-1]:
        criteria += ["OR", "FROM", domain]
    if domains:
        criteria += ["FROM", domains[-1]]
    if query.since is not None:
        criteria += ["SINCE", (query.since.astimezone(UTC) - timedelta(days=1)).date()]
    return criteria or ["ALL"]


def gmail_raw_query(query: Query) -> str:
    """The same narrowing in Gmail search syntax for X-GM-RAW ({a b} means a OR b)."""
    froms = [f"from:{d}" for d in query.sender_domains]
    terms = [froms[0] if len(froms) == 1 else "{" + " ".join(froms) + "}"] if froms else []
    if query.since is not None:  # Gmail dates are Pacific time: one day early, filter exactly
        day = (query.since.astimezone(UTC) - timedelta(days=1)).date()
        terms.append(f"after:{day:%Y/%m/%d}")
    return " ".join(terms) or "in:anywhere"


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
    ) -> None:
        self.url = url
        profile = self.read_profile(SourceOptions(profile=profile or {}))
        auth = profile["auth"]
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
        return cls(
            parsed,
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

    @property
    def _timeout(self) -> SocketTimeout:
        return self._conn.timeout

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        """Translate library errors into the inbox_finder tree (see ImapSession.errors)."""
        return self._conn.errors(doing)

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ search and fetch

    def sync_cursor(self) -> str | None:
        """``imap:UIDVALIDITY:UIDNEXT`` from the EXAMINE response: new mail moves UIDNEXT."""
        self._conn.run("opening the folder", lambda client: None)
        validity, uidnext = self._conn.uidvalidity, self._conn.uidnext
        if validity is None or uidnext is None:
            return None
        return f"imap:{validity}:{uidnext}"

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool | None:
        """IMAP IDLE (RFC 2177) on this connection: True when the server reports new mail."""
        return self._conn.run("waiting in IDLE", lambda c: _idle(c, timeout, stop))

    def _first_new_uid(self, cursor: str | None) -> int | None:
        """The UID new mail starts at, if ``cursor`` is from this folder's UIDVALIDITY epoch."""
        parts = (cursor or "").split(":")
        if len(parts) != 3 or parts[0] != "imap" or not parts[1].isdigit():
            return None
        if int(parts[1]) != self._conn.uidvalidity:
            log.info("UIDVALIDITY changed since the last scan; searching the whole folder")
            return None
        return int(parts[2]) if parts[2].isdigit() else None

    def search(self, query: Query) -> Iterator[Candidate]:
        # One retried unit: a reconnect repeats the SEARCH/SORT (no bodies), and may meet a new
        # UIDVALIDITY (fresh) because no UID has been handed out yet.
        uids = self._conn.run("searching", lambda client: self._search(client, query), fresh=True)
        return _ties_by_uid(self._candidates(uids, query.since))

    def _search(self, client: IMAPClient, query: Query) -> list[int]:
        """Matching UIDs, newest INTERNALDATE first."""
        first_uid = self._first_new_uid(query.after_cursor)
        if client.has_capability("X-GM-EXT-1"):
            raw_query = gmail_raw_query(query)
            log.debug("UID SEARCH X-GM-RAW %r", raw_query)
            return self._by_date(client, self._after(client.gmail_search(raw_query), first_uid))
        criteria = search_criteria(query)
        if first_uid is not None:
            criteria = ["UID", f"{first_uid}:*", *criteria]
        if client.has_capability("SORT"):
            # RFC 5256: the server orders by ARRIVAL (= INTERNALDATE), so nothing is fetched
            # per match up front and the cost does not grow with the number of matches.
            log.debug("UID SORT (REVERSE ARRIVAL) %s", " ".join(map(str, criteria)))
            return self._after(client.sort(["REVERSE ARRIVAL"], criteria), first_uid)
        log.debug("UID SEARCH %s", " ".join(map(str, criteria)))
        return self._by_date(client, self._after(client.search(criteria), first_uid))

    @staticmethod
    def _after(uids: list[Any], first_uid: int | None) -> list[int]:
        found = [int(u) for u in uids]
        log.debug("%d messages match on the server", len(found))
        if first_uid is None:
            return found
        # "N:*" always includes the highest UID, even one below N: filter exactly.
        return [u for u in found if u >= first_uid]

    def _by_date(self, client: IMAPClient, uids: list[int]) -> list[int]:
        """Without SORT: fetch every match's INTERNALDATE and order them here."""
        dated: list[tuple[datetime, int]] = []
        for start in range(0, len(uids), DATE_BATCH):
            batch = uids[start : start + DATE_BATCH]
            log.debug("UID FETCH %d messages (INTERNALDATE)", len(batch))
            with self._errors("fetching INTERNALDATE"):
                response = client.fetch(batch, ["INTERNALDATE"])
            for uid, data in response.items():
                dated.append((_utc(data.get(b"INTERNALDATE")), int(uid)))
        dated.sort(reverse=True)  # newest INTERNALDATE first, then highest UID
        return [uid for _, uid in dated]

    def _candidates(self, uids: list[int], since: datetime | None) -> Iterator[Candidate]:
        """Yield in order, fetching date and header block one small batch ahead of the consumer."""
        for start in range(0, len(uids), HEADER_BATCH):
            batch = uids[start : start + HEADER_BATCH]
            log.debug("UID FETCH %d messages (INTERNALDATE BODY.PEEK[HEADER])", len(batch))
            # A retry refetches this batch only, on a session with the same UIDVALIDITY.
            response = self._fetch("fetching headers", batch, ["INTERNALDATE", "BODY.PEEK[HEADER]"])
            for uid in batch:
                data = response.get(uid)
                if data is None:  # expunged by another client meanwhile
                    continue
                when = _utc(data.get(b"INTERNALDATE"))
                if since is not None and when < since:
                    return  # newest first: everything after is older still
                headers = data.get(b"BODY[HEADER]")
                yield Candidate(
                    ref=str(uid),
                    received=when,
                    received_source="server",
                    headers=headers if isinstance(headers, bytes) else None,
                )

    def _fetch(self, doing: str, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        """UID FETCH as one retried unit (a reconnect keeps UIDVALIDITY or fails)."""
        result: dict[int, dict[bytes, Any]] = self._conn.run(
            doing, lambda client: client.fetch(uids, items)
        )
        return result

    def fetch(self, candidate: Candidate) -> bytes:
        try:
            uid = int(candidate.ref)
        except ValueError:
            raise MailboxError(f"not an IMAP message reference: {candidate.ref!r}") from None
        log.debug("UID FETCH %d (BODY.PEEK[])", uid)
        # A literal cut short raises in imaplib (EOF/reset), so a partial message is never
        # returned: the whole message is fetched again on a fresh connection.
        response = self._fetch("fetching a message", [uid], ["BODY.PEEK[]"])
        body = response.get(uid, {}).get(b"BODY[]")
        if not isinstance(body, bytes):
            raise MessageVanishedError(f"message UID {uid} is gone from {self.url.folder!r}")
        return body
