"""One IMAP connection for the IMAP provider: TLS, login, EXAMINE, error translation, retries.

Retry policy (profile keys ``retries``, default 2, and ``retry_backoff``, default 0.5 s):
an operation that fails *transiently* — connection refused, reset or dropped (imaplib's
``abort``, which also covers an EOF in the middle of a literal), a read or connect timeout, a
TLS session cut off — is retried up to ``retries`` times on a fresh connection, pausing
``retry_backoff * 2**(n-1)`` seconds (with jitter, never more) before retry n. Each
reconnect re-EXAMINEs the folder and checks UIDVALIDITY, so a UID taken from an earlier session
is never used against a rebuilt mailbox. Never retried: a rejected login (AuthError), a
certificate or TLS handshake failure (retrying repeats it), a NO/BAD answer, a missing folder.
When the retries are used up the last MailboxError (naming host:port) is raised.

An operation is one IMAP round trip or a short group of them (SEARCH plus its INTERNALDATE
fetches), so a retry repeats only that: an interrupted message or header batch is fetched
again, never the whole lookup.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import LoginError

from inbox_finder.errors import (
    AuthError,
    ConfigError,
    FolderNotFoundError,
    InboxFinderError,
    MailboxError,
)
from inbox_finder.secret_sources import imap_password, oauth_token

log = logging.getLogger("inbox_finder.providers.imap")
wire_log = logging.getLogger("inbox_finder.providers.imap.wire")

T = TypeVar("T")

_ATOM_UNSAFE = re.compile(r'[\x00-\x20(){%*"\\\]\x7f-\U0010ffff]')
_SECRET_COMMAND = re.compile(r"^(>.*?\b(?:LOGIN|AUTHENTICATE)\b).*$", re.DOTALL)
MAX_RETRIES = 10
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class ImapUrl:
    """A parsed IMAP source URL."""

    implicit_tls: bool
    user: str
    host: str
    port: int
    folder: str | None  # None: the whole mailbox

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def display(self, folder: str | None = None) -> str:
        """The URL without secrets; ``folder`` (default: the URL's own) as its path."""
        scheme = "imaps" if self.implicit_tls else "imap"
        user = quote(self.user, safe="")
        folder = self.folder if folder is None else folder
        tail = "/" + quote(folder, safe="/") if folder else ""
        return f"{scheme}://{user}@{self.where}{tail}"


@dataclass(frozen=True)
class RetryPolicy:
    """How often a transient failure is retried, and the first pause (doubling after)."""

    retries: int = 2
    backoff: float = 0.5

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> RetryPolicy:
        retries = profile.get("retries", cls.retries)
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise ConfigError(f"profile key retries must be a whole number 0-{MAX_RETRIES}")
        if not 0 <= retries <= MAX_RETRIES:
            raise ConfigError(f"profile key retries must be a whole number 0-{MAX_RETRIES}")
        backoff = profile.get("retry_backoff", cls.backoff)
        if isinstance(backoff, bool) or not isinstance(backoff, int | float):
            raise ConfigError(f"profile key retry_backoff must be 0-{MAX_BACKOFF:g} seconds")
        if not 0 <= backoff <= MAX_BACKOFF:
            raise ConfigError(f"profile key retry_backoff must be 0-{MAX_BACKOFF:g} seconds")
        return cls(retries, float(backoff))

    def pause(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): at most backoff*2**(n-1)."""
        # Jitter spreads clients that failed together (one server restart, many cron jobs).
        return self.backoff * 2.0 ** (retry - 1) * random.uniform(0.5, 1.0)  # noqa: S311


def is_transient(exc: BaseException | None) -> bool:
    """True for failures a fresh connection may not repeat (see the module docstring)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return True  # the peer vanished mid-TLS: a dropped connection, not a TLS mismatch
    if isinstance(exc, ssl.SSLError):
        return False  # handshake/protocol failure (wrong port, no common version): it repeats
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN  # "temporary failure in name resolution"
    if isinstance(exc, imaplib.IMAP4.abort):
        return True  # EOF, BYE, socket error: the connection is gone
    if isinstance(exc, LoginError) and is_unavailable(exc):
        return True  # RFC 5530 [UNAVAILABLE]: the server's auth backend is down, not the password
    if isinstance(exc, imaplib.IMAP4.error):
        return False  # NO/BAD, LoginError, protocol errors: the server meant it
    return isinstance(exc, OSError)  # refused, reset, timed out, unreachable


def is_unavailable(exc: BaseException) -> bool:
    """A NO [UNAVAILABLE] answer (RFC 5530): a temporary server failure, e.g. Dovecot's
    "Temporary authentication failure" when its user database is unreachable."""
    return "[UNAVAILABLE]" in _server_text(exc).upper()


def _server_text(exc: BaseException) -> str:
    """One line of what the server/library said (bytes reprs decoded, length capped)."""
    arg = exc.args[0] if exc.args else exc
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    if text.startswith(("b'", 'b"')) and text.endswith(text[1]):
        text = text[2:-1]
    text = " ".join(text.split())
    return text[:200] or type(exc).__name__


def _unwrap(exc: Exception) -> Exception:
    """The real failure behind imapclient's LoginError when the connection broke mid-login.

    imapclient turns *any* error during LOGIN/AUTHENTICATE into LoginError, so a reset or an
    EOF there would read as a rejected password (exit 3, never retried); it is a dropped
    connection. A timeout or reset while reading is not wrapped (it is no IMAPClientError).
    """
    context = exc.__context__
    if isinstance(exc, LoginError) and isinstance(context, imaplib.IMAP4.abort | OSError):
        return context
    return exc


def _quoted(value: str) -> str:
    """An IMAP quoted string (imaplib sends LOGIN's user verbatim)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapSession:
    """A lazily (re)opened, logged-in connection with the folder EXAMINEd, plus retries."""

    def __init__(
        self,
        url: ImapUrl,
        *,
        ca_file: str | None,
        timeout: SocketTimeout,
        profile: Mapping[str, Any],
        auth: str,
        retry: RetryPolicy,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retry = retry
        # The folder operations run in (None: none selected, e.g. for LIST); switching it makes
        # the next operation EXAMINE the new one. UIDVALIDITY is remembered per folder.
        self.folder: str | None = url.folder
        self.uidvalidity: int | None = None  # of the folder EXAMINEd last
        self.uidnext: int | None = None
        self._validity: dict[str, int] = {}
        self._selected: str | None = None
        self._ca_file = ca_file
        self._profile = profile
        self._auth = auth
        self._secret: str | None = None
        self._client: IMAPClient | None = None

    # ------------------------------------------------------------------ retries

    def run(self, doing: str, op: Callable[[IMAPClient], T], *, fresh: bool = False) -> T:
        """``op(client)`` on the open folder, retried on transient failures (module doc).

        ``fresh``: the operation starts a new search, so a reconnect may accept a new
        UIDVALIDITY; otherwise a changed UIDVALIDITY is a MailboxError ("search again").
        """
        attempt = 1
        while True:
            if fresh and self.folder is not None and self._selected != self.folder:
                self._validity.pop(self.folder, None)
            try:
                client = self.client()
                with self.errors(doing):
                    return op(client)
            except MailboxError as error:
                if not is_transient(error.__cause__):
                    raise
                if attempt > self.retry.retries:
                    if attempt == 1:
                        raise
                    cause = error.__cause__
                    raise MailboxError(f"{error} (gave up after {attempt} attempts)") from cause
                pause = self.retry.pause(attempt)
                log.info("%s; retry %d of %d in %.2fs", error, attempt, self.retry.retries, pause)
                self.abandon()
                time.sleep(pause)
                attempt += 1

    # ------------------------------------------------------------------ errors

    @contextlib.contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Translate anything imapclient/ssl/socket raise into the inbox_finder error tree."""
        try:
            yield
        except InboxFinderError:
            raise
        except Exception as raised:
            exc = _unwrap(raised)
            error = self.translate(exc, doing)
            if not isinstance(exc, imaplib.IMAP4.error) or isinstance(exc, imaplib.IMAP4.abort):
                self.abandon()  # unusable; a later call reconnects (UIDVALIDITY re-checked)
            raise error from exc

    def translate(self, exc: Exception, doing: str) -> InboxFinderError:
        where = self.url.where
        if isinstance(exc, LoginError) and is_unavailable(exc):
            return MailboxError(
                f"{where} could not log in {self.url.user} right now: {self._clean(exc)}"
            )
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

    # ------------------------------------------------------------------ connection

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
        with self.errors("connecting"):
            client = IMAPClient(
                self.url.host,
                port=self.url.port,
                ssl=self.url.implicit_tls,
                ssl_context=context,
                timeout=self.timeout,
            )
        try:
            imap = getattr(client, "_imap", None)
            if (
                imap is not None
            ):  # level 5 would log message bodies (see providers/imap/provider.py)
                imap.debug = 4
                imap._mesg = self._wire
            client.normalise_times = False  # aware INTERNALDATEs, not local wall clock
            if not self.url.implicit_tls:
                with self.errors("checking for STARTTLS"):
                    offered = client.has_capability("STARTTLS")
                if not offered:
                    raise MailboxError(
                        f"{where} does not offer STARTTLS; refusing to log in without TLS "
                        "(use imaps:// if the server speaks implicit TLS)"
                    )
                log.debug("STARTTLS")
                with self.errors("starting TLS"):
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
            with self.errors("logging in"):
                client.oauth2_login(user, secret)
            return
        with self.errors("logging in"):
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

    def client(self) -> IMAPClient:
        """The connected client with ``folder`` EXAMINEd; re-opening a folder checks UIDVALIDITY."""
        fresh = self._client is None
        client = self._client if self._client is not None else self._connect()
        self._client = client
        if self.folder is None or self._selected == self.folder:
            return client
        try:
            self._examine(client, self.folder)
        except MailboxError as exc:
            if fresh:
                self._client = None
                self._drop(client, graceful=not is_transient(exc.__cause__))
            raise
        except BaseException:
            if fresh:
                self._client = None
                self._drop(client, graceful=True)
            raise
        return client

    def _examine(self, client: IMAPClient, folder: str) -> None:
        """EXAMINE ``folder`` (read-only SELECT) and check its UIDVALIDITY against earlier ones."""
        self._selected = None
        log.debug("EXAMINE %s", folder)
        try:
            with self.errors(f"opening folder {folder!r}"):
                info = client.select_folder(folder, readonly=True)
        except MailboxError as exc:
            if is_transient(exc.__cause__):
                raise
            with self.errors("listing folders"):
                exists = client.folder_exists(folder)
            if not exists:
                raise FolderNotFoundError(
                    f"folder {folder!r} does not exist on {self.url.where}"
                ) from None
            raise
        validity = info.get(b"UIDVALIDITY")
        if not isinstance(validity, int):
            raise MailboxError(f"{self.url.where} sent no UIDVALIDITY for {folder!r}")
        known = self._validity.get(folder)
        if known is not None and validity != known:
            raise MailboxError(
                f"UIDVALIDITY of {folder!r} on {self.url.where} changed "
                f"({known} -> {validity}); search again"
            )
        self._validity[folder] = self.uidvalidity = validity
        uidnext = info.get(b"UIDNEXT")
        self.uidnext = uidnext if isinstance(uidnext, int) else None
        self._selected = folder

    @staticmethod
    def _drop(client: IMAPClient, *, graceful: bool) -> None:
        # LOGOUT on a stalled or cut connection would wait out another read timeout: skip it.
        if graceful:
            with contextlib.suppress(Exception):
                client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()

    def abandon(self) -> None:
        """Forget a broken connection without LOGOUT (it may be stalled)."""
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            self._drop(client, graceful=False)

    def close(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            log.debug("LOGOUT")
            self._drop(client, graceful=True)
