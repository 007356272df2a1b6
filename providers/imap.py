"""IMAP mailboxes: ``imaps://USER@HOST[:PORT][/FOLDER]`` (TLS) and ``imap://…`` (STARTTLS).

Strictly read-only: the folder is opened with EXAMINE and messages are read with
``BODY.PEEK[…]``, so not even ``\\Seen`` changes. Candidates come from a server-side SEARCH
(FROM each sender domain, SINCE the day before ``query.since``), are ordered by INTERNALDATE
(newest first, then UID), and carry their header block, fetched lazily 25 at a time; a whole
message is only downloaded by ``fetch``. Every imapclient/ssl/socket error is translated at
this boundary into the inbox_finder error tree.

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

import contextlib
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, unquote, urlsplit

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import LoginError

from inbox_finder.credentials import imap_password, oauth_token
from inbox_finder.errors import (
    AuthError,
    ConfigError,
    FolderNotFoundError,
    InboxFinderError,
    MailboxError,
)
from inbox_finder.model import Candidate
from inbox_finder.provider import Provider, Query, SourceOptions

log = logging.getLogger("inbox_finder.providers.imap")
wire_log = logging.getLogger("inbox_finder.providers.imap.wire")

HEADER_BATCH = 25  # header blocks per FETCH while the consumer iterates
DATE_BATCH = 500  # UIDs per FETCH INTERNALDATE (keeps command lines far below server limits)
_ATOM_UNSAFE = re.compile(r'[\x00-\x20(){%*"\\\]\x7f-\U0010ffff]')
_SECRET_COMMAND = re.compile(r"^(>.*?\b(?:LOGIN|AUTHENTICATE)\b).*$", re.DOTALL)


@dataclass(frozen=True)
class ImapUrl:
    """A parsed IMAP source URL."""

    implicit_tls: bool
    user: str
    host: str
    port: int
    folder: str

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def display(self) -> str:
        scheme = "imaps" if self.implicit_tls else "imap"
        user, folder = quote(self.user, safe=""), quote(self.folder, safe="/")
        return f"{scheme}://{user}@{self.where}/{folder}"


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


def _positive(profile: Mapping[str, Any], key: str, default: float) -> float:
    value = profile.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"profile key {key} must be a positive number of seconds")
    return float(value)


def _server_text(exc: BaseException) -> str:
    """One line of what the server/library said (bytes reprs decoded, length capped)."""
    arg = exc.args[0] if exc.args else exc
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    if text.startswith(("b'", 'b"')) and text.endswith(text[1]):
        text = text[2:-1]
    text = " ".join(text.split())
    return text[:200] or type(exc).__name__


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise MailboxError(f"server sent an unreadable INTERNALDATE: {value!r:.60}")
    # normalise_times=False gives aware datetimes; a naive one would be the server's UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        self._ca_file = ca_file
        self._timeout = SocketTimeout(connect=connect_timeout, read=read_timeout)
        self._profile: Mapping[str, Any] = profile or {}
        auth = str(self._profile.get("auth", "password")).lower()
        if auth not in ("password", "xoauth2"):
            raise ConfigError(f"profile key auth must be 'password' or 'xoauth2', not {auth!r}")
        self._auth = auth
        self._secret: str | None = None
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        self._uidnext: int | None = None

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        parsed = parse_imap_url(url)
        profile = options.profile
        ca_file = options.ca_file or (str(profile["ca_file"]) if profile.get("ca_file") else None)
        if ca_file is not None and not Path(ca_file).expanduser().is_file():
            raise ConfigError(f"CA file not found: {ca_file}")
        read_timeout = _positive({"timeout": options.timeout}, "timeout", 30.0)
        return cls(
            parsed,
            ca_file=str(Path(ca_file).expanduser()) if ca_file else None,
            connect_timeout=_positive(profile, "connect_timeout", read_timeout),
            read_timeout=read_timeout,
            profile=profile,
        )

    @property
    def source(self) -> str:
        return self.url.display()

    # ------------------------------------------------------------------ connection

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Translate anything imapclient/ssl/socket raise into the inbox_finder error tree."""
        try:
            yield
        except InboxFinderError:
            raise
        except Exception as exc:
            error = self._translate(exc, doing)
            if not isinstance(exc, imaplib.IMAP4.error) or isinstance(exc, imaplib.IMAP4.abort):
                self.close()  # the connection is unusable; a later call reconnects (UIDVALIDITY)
            raise error from exc

    def _translate(self, exc: Exception, doing: str) -> InboxFinderError:
        where = self.url.where
        if isinstance(exc, LoginError):
            return AuthError(f"{where} rejected the login of {self.url.user}: {self._clean(exc)}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            why = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
            return MailboxError(
                f"TLS certificate of {where} did not verify ({why}); "
                "for a private CA pass --ca-file"
            )
        if isinstance(exc, ssl.SSLError):
            reason = getattr(exc, "reason", None) or exc
            return MailboxError(f"TLS with {where} failed while {doing}: {reason}")
        if isinstance(exc, socket.gaierror):
            return MailboxError(f"cannot resolve {where}: {exc.strerror}")
        if isinstance(exc, TimeoutError):
            return MailboxError(f"{where} timed out while {doing}")
        if isinstance(exc, ConnectionRefusedError):
            return MailboxError(f"connection to {where} refused")
        if isinstance(exc, OSError):
            return MailboxError(
                f"connection to {where} failed while {doing}: {exc.strerror or exc}"
            )
        if isinstance(exc, imaplib.IMAP4.abort):
            return MailboxError(f"{where} dropped the connection while {doing}: {self._clean(exc)}")
        if isinstance(exc, imaplib.IMAP4.error):
            return MailboxError(f"{where} refused {doing}: {self._clean(exc)}")
        # Parser/library surprises still never escape untranslated (the cause is chained).
        return MailboxError(f"unexpected {type(exc).__name__} from {where} while {doing}")

    def _clean(self, exc: BaseException) -> str:
        text = _server_text(exc)
        return text.replace(self._secret, "***") if self._secret else text

    def _wire(self, line: str, secs: float | None = None) -> None:
        """imaplib's debug hook: commands and response lines, secrets redacted."""
        if not wire_log.isEnabledFor(logging.DEBUG):
            return
        line = _SECRET_COMMAND.sub(r"\1 [redacted]", line)
        if self._secret:
            line = line.replace(self._secret, "***")
        wire_log.debug("%s", line[:300])

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()  # system store, hostname check, TLS >= 1.2
        if self._ca_file:
            try:
                context.load_verify_locations(cafile=self._ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load CA file {self._ca_file}: {exc}") from exc
        return context

    def _connect(self) -> IMAPClient:
        context = self._ssl_context()
        # Resolve the secret first: a prompt must not keep an idle connection waiting.
        user, host = self.url.user, self.url.host
        if self._secret is None:
            if self._auth == "xoauth2":
                self._secret = oauth_token(user, host, self._profile)
            else:
                self._secret = imap_password(user, host, self._profile)
        where = self.url.where
        log.debug("connecting to %s (%s)", where, "TLS" if self.url.implicit_tls else "STARTTLS")
        with self._errors("connecting"):
            client = IMAPClient(
                self.url.host,
                port=self.url.port,
                ssl=self.url.implicit_tls,
                ssl_context=context,
                timeout=self._timeout,
            )
        try:
            imap = getattr(client, "_imap", None)
            if imap is not None:  # see module docstring: level 5 would log message bodies
                imap.debug = 4
                imap._mesg = self._wire
            client.normalise_times = False  # aware INTERNALDATEs, not local wall clock
            if not self.url.implicit_tls:
                with self._errors("checking for STARTTLS"):
                    offered = client.has_capability("STARTTLS")
                if not offered:
                    raise MailboxError(
                        f"{where} does not offer STARTTLS; refusing to log in without TLS "
                        "(use imaps:// if the server speaks implicit TLS)"
                    )
                log.debug("STARTTLS")
                with self._errors("starting TLS"):
                    client.starttls(context)
            self._login(client, self._secret)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def _login(self, client: IMAPClient, secret: str) -> None:
        user = self.url.user
        if self._auth == "xoauth2":
            log.debug("AUTHENTICATE XOAUTH2 as %s (token redacted)", user)
            with self._errors("logging in"):
                client.oauth2_login(user, secret)
            return
        with self._errors("logging in"):
            if secret.isascii():
                log.debug("LOGIN %s (password redacted)", user)
                login_user = user if not _ATOM_UNSAFE.search(user) else _quoted(user)
                client.login(login_user, secret)
            elif client.has_capability("AUTH=PLAIN"):  # LOGIN is ASCII-only in imaplib
                log.debug("AUTHENTICATE PLAIN as %s (password redacted)", user)
                client.plain_login(user, secret)
            else:
                raise AuthError(
                    f"the password is not ASCII and {self.url.where} offers no AUTH=PLAIN"
                )

    def _session(self) -> IMAPClient:
        """The connected client with the folder EXAMINEd; reconnects check UIDVALIDITY."""
        if self._client is not None:
            return self._client
        client = self._connect()
        folder = self.url.folder
        try:
            log.debug("EXAMINE %s", folder)
            try:
                with self._errors(f"opening folder {folder!r}"):
                    info = client.select_folder(folder, readonly=True)
            except MailboxError:
                with self._errors("listing folders"):
                    exists = client.folder_exists(folder)
                if not exists:
                    raise FolderNotFoundError(
                        f"folder {folder!r} does not exist on {self.url.where}"
                    ) from None
                raise
            validity = info.get(b"UIDVALIDITY")
            if not isinstance(validity, int):
                raise MailboxError(f"{self.url.where} sent no UIDVALIDITY for {folder!r}")
            if self._uidvalidity is not None and validity != self._uidvalidity:
                raise MailboxError(
                    f"UIDVALIDITY of {folder!r} on {self.url.where} changed "
                    f"({self._uidvalidity} -> {validity}); search again"
                )
        except BaseException:
            self._drop(client)
            raise
        self._uidvalidity = validity
        uidnext = info.get(b"UIDNEXT")
        self._uidnext = uidnext if isinstance(uidnext, int) else None
        self._client = client
        return client

    def _drop(self, client: IMAPClient) -> None:
        with contextlib.suppress(Exception):
            client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            log.debug("LOGOUT")
            self._drop(client)

    # ------------------------------------------------------------------ search and fetch

    def sync_cursor(self) -> str | None:
        """``imap:UIDVALIDITY:UIDNEXT`` from the EXAMINE response: new mail moves UIDNEXT."""
        self._session()
        if self._uidvalidity is None or self._uidnext is None:
            return None
        return f"imap:{self._uidvalidity}:{self._uidnext}"

    def _first_new_uid(self, cursor: str | None) -> int | None:
        """The UID new mail starts at, if ``cursor`` is from this folder's UIDVALIDITY epoch."""
        parts = (cursor or "").split(":")
        if len(parts) != 3 or parts[0] != "imap" or not parts[1].isdigit():
            return None
        if int(parts[1]) != self._uidvalidity:
            log.info("UIDVALIDITY changed since the last scan; searching the whole folder")
            return None
        return int(parts[2]) if parts[2].isdigit() else None

    def search(self, query: Query) -> Iterator[Candidate]:
        if self._client is None:
            self._uidvalidity = None  # a new search makes new refs; only fetch must match them
        client = self._session()
        first_uid = self._first_new_uid(query.after_cursor)
        with self._errors("searching"):
            if client.has_capability("X-GM-EXT-1"):
                raw_query = gmail_raw_query(query)
                log.debug("UID SEARCH X-GM-RAW %r", raw_query)
                uids = client.gmail_search(raw_query)
            else:
                criteria = search_criteria(query)
                if first_uid is not None:
                    criteria = ["UID", f"{first_uid}:*", *criteria]
                log.debug("UID SEARCH %s", " ".join(map(str, criteria)))
                uids = client.search(criteria)
        if first_uid is not None:
            # "N:*" always includes the highest UID, even one below N: filter exactly.
            uids = [u for u in uids if int(u) >= first_uid]
        log.debug("%d messages match on the server", len(uids))
        dated = self._internal_dates(client, [int(u) for u in uids])
        if query.since is not None:
            since = query.since.astimezone(UTC)
            dated = [(when, uid) for when, uid in dated if when >= since]
        dated.sort(reverse=True)  # newest INTERNALDATE first, then highest UID
        return self._candidates(dated)

    def _internal_dates(self, client: IMAPClient, uids: list[int]) -> list[tuple[datetime, int]]:
        dated: list[tuple[datetime, int]] = []
        for start in range(0, len(uids), DATE_BATCH):
            batch = uids[start : start + DATE_BATCH]
            log.debug("UID FETCH %d messages (INTERNALDATE)", len(batch))
            with self._errors("fetching INTERNALDATE"):
                response = client.fetch(batch, ["INTERNALDATE"])
            for uid, data in response.items():
                dated.append((_utc(data.get(b"INTERNALDATE")), int(uid)))
        return dated

    def _candidates(self, dated: list[tuple[datetime, int]]) -> Iterator[Candidate]:
        """Yield in order, fetching header blocks one small batch ahead of the consumer."""
        for start in range(0, len(dated), HEADER_BATCH):
            batch = dated[start : start + HEADER_BATCH]
            client = self._session()
            log.debug("UID FETCH %d messages (BODY.PEEK[HEADER])", len(batch))
            with self._errors("fetching headers"):
                response = client.fetch([uid for _, uid in batch], ["BODY.PEEK[HEADER]"])
            for when, uid in batch:
                data = response.get(uid)
                if data is None:  # expunged by another client meanwhile
                    continue
                headers = data.get(b"BODY[HEADER]")
                yield Candidate(
                    ref=str(uid),
                    received=when,
                    received_source="server",
                    headers=headers if isinstance(headers, bytes) else None,
                )

    def fetch(self, candidate: Candidate) -> bytes:
        try:
            uid = int(candidate.ref)
        except ValueError:
            raise MailboxError(f"not an IMAP message reference: {candidate.ref!r}") from None
        client = self._session()
        log.debug("UID FETCH %d (BODY.PEEK[])", uid)
        with self._errors("fetching a message"):
            response = client.fetch([uid], ["BODY.PEEK[]"])
        body = response.get(uid, {}).get(b"BODY[]")
        if not isinstance(body, bytes):
            raise MailboxError(f"message UID {uid} is gone from {self.url.folder!r}")
        return body


def _quoted(value: str) -> str:
    """An IMAP quoted string (imaplib sends LOGIN's user verbatim)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
