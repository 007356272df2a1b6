"""One IMAP connection for the IMAP provider: TLS, login, EXAMINE, error translation, retries.

Retries follow ``inbox_finder.net.retry`` (profile keys ``retries``, default 2, and
``retry_backoff``, default 0.5 s; ``retry_max_seconds`` adds a time budget): an operation that
fails *transiently* — connection refused, reset or dropped (imaplib's ``abort``, which also
covers an EOF in the middle of a literal), a timeout, a TLS session cut off, or a server answer
whose response code says "try later" (``[UNAVAILABLE]``, ``[LIMIT]``, ``[INUSE]``,
``[SERVERBUG]``, Gmail's "Too many simultaneous connections"; see codes.py) — is retried on a
fresh connection after a jittered, doubling pause. Each reconnect re-EXAMINEs the folder and
checks UIDVALIDITY, so a UID taken from an earlier session is never used against a rebuilt
mailbox. Never retried: a rejected login (AuthError), a certificate or TLS handshake failure
(retrying repeats it), other NO/BAD answers, a missing folder. When the retries are used up the
last MailboxError (naming host:port) is raised.

Deadlines: every command's whole answer (a FETCH literal included), the greeting and the TLS
handshake must arrive within the timeout, however slowly the server trickles bytes (sockets
from ``inbox_finder.net.deadline``), so one operation ends within about (retries + 1) x timeout.

An operation is one IMAP round trip or a short group of them (SEARCH plus its INTERNALDATE
fetches), so a retry repeats only that: an interrupted message or header batch is fetched
again, never the whole lookup.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from imapclient import IMAPClient, SocketTimeout
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS

from inbox_finder.errors import AuthError, FolderNotFoundError, InboxFinderError, MailboxError
from inbox_finder.net import retry, tls
from inbox_finder.net.deadline import adopt
from inbox_finder.net.retry import Failure, RetryPolicy
from inbox_finder.secret_sources import imap_password, oauth_token

from . import pipeline
from .failures import is_transient, server_text, translate, unwrap
from .pipeline import Answer, Command

__all__ = ["DEFAULT_RETRY", "ImapSession", "ImapUrl", "is_transient"]

log = logging.getLogger("inbox_finder.providers.imap")
wire_log = logging.getLogger("inbox_finder.providers.imap.wire")

T = TypeVar("T")
# The command an operation starts with, given the connected client (None: send it normally).
Ahead = Callable[[IMAPClient], list[Command] | None]

# Not an atom character: controls, space, specials, and anything outside ASCII. (Written as a
# negated class: the equivalent range up to U+10FFFF takes ~5 ms to compile at start-up.)
_ATOM_UNSAFE = re.compile(r'[\x00-\x20(){%*"\\\]]|[^\x00-\x7e]')
_SECRET_COMMAND = re.compile(r"^(>.*?\b(?:LOGIN|AUTHENTICATE)\b).*$", re.DOTALL)
# 3 attempts, pauses of about 0.5 s and 1 s; no time budget unless the profile sets one.
DEFAULT_RETRY = RetryPolicy(max_attempts=3, max_total=None, base_delay=0.5, max_delay=60.0)


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


def _quoted(value: str) -> str:
    """An IMAP quoted string (imaplib sends LOGIN's user verbatim)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _GreetingCapabilities(imaplib.IMAP4):
    """imaplib sends CAPABILITY right after the greeting; a greeting that carries the list
    (``* OK [CAPABILITY ...]``, Dovecot and most servers) saves that round trip. After
    STARTTLS the list is asked for again, as RFC 3501 requires."""

    def _get_capabilities(self) -> None:
        greeted: Any = self.untagged_responses.pop("CAPABILITY", None)
        line = greeted[-1] if greeted else None
        if isinstance(line, bytes) and not getattr(self, "_tls_established", False):
            self.capabilities = tuple(line.decode("ascii", "replace").upper().split())
            return
        super()._get_capabilities()  # type: ignore[misc]


class _PlainIMAP4(_GreetingCapabilities, IMAP4WithTimeout):  # type: ignore[misc]
    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return adopt(super()._create_socket(timeout))


class _TlsIMAP4(_GreetingCapabilities, IMAP4_TLS):  # type: ignore[misc]
    pass


class _Client(IMAPClient):  # type: ignore[misc]
    """IMAPClient whose plain socket (imap:// before STARTTLS) also has exchange deadlines.

    TLS sockets get them from the SSL context (inbox_finder.net.tls); the plain one is made by
    imapclient's private ``_create_IMAP4``, the only place to reach it before the greeting.
    """

    def _create_IMAP4(self) -> imaplib.IMAP4:
        connect = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _TlsIMAP4(self.host, self.port, self.ssl_context, connect)  # type: ignore[call-arg]
        return _PlainIMAP4(self.host, self.port, connect)


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
        # System store plus --ca-file, deadlines; shared: imapclient never changes it.
        self._context = tls.client_context(ca_file, shared=True)
        self._validity: dict[str, int] = {}
        self._selected: str | None = None
        self._profile = profile
        self._auth = auth
        self._secret: str | None = None
        self._client: IMAPClient | None = None
        self._ahead: list[Answer] | None = None  # see take_ahead()

    # ------------------------------------------------------------------ retries

    def run(
        self,
        doing: str,
        op: Callable[[IMAPClient], T],
        *,
        fresh: bool = False,
        ahead: Ahead | None = None,
    ) -> T:
        """``op(client)`` on the open folder, retried on transient failures (module doc).

        ``fresh``: the operation starts a new search, so a reconnect may accept a new
        UIDVALIDITY; otherwise a changed UIDVALIDITY is a MailboxError ("search again").
        ``ahead``: the commands ``op`` starts with (or None), sent in one write with the folder's
        EXAMINE where one is needed (pipeline.py); ``op`` finds their answers in
        ``take_ahead()``.
        """

        def attempt() -> T:
            if fresh and self.folder is not None and self._selected != self.folder:
                self._validity.pop(self.folder, None)
            self._ahead = None
            client = self.client(ahead)
            with self.errors(doing):
                return op(client)

        return retry.run(self.retry, attempt, self._retryable, log)

    def _retryable(self, exc: Exception) -> Failure | None:
        """A transient MailboxError as a retryable Failure (dropping the connection); else None."""
        if not isinstance(exc, MailboxError) or not is_transient(exc.__cause__):
            return None
        self.abandon()
        return Failure(type(exc), str(exc), retryable=True, cause=exc.__cause__)

    # ------------------------------------------------------------------ errors

    @contextlib.contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Translate anything imapclient/ssl/socket raise into the inbox_finder error tree."""
        try:
            yield
        except InboxFinderError:
            raise
        except Exception as raised:
            exc = unwrap(raised)
            error = self.translate(exc, doing)
            if not isinstance(exc, imaplib.IMAP4.error) or isinstance(exc, imaplib.IMAP4.abort):
                self.abandon()  # unusable; a later call reconnects (UIDVALIDITY re-checked)
            raise error from exc

    def translate(self, exc: Exception, doing: str) -> InboxFinderError:
        """The inbox_finder error for ``exc`` (see failures.py), secrets blanked."""
        return translate(exc, doing, self.url.where, self.url.user, self._clean)

    def _clean(self, exc: BaseException) -> str:
        text = server_text(exc)
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

    def _connect(self) -> IMAPClient:
        context = self._context
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
            client = _Client(
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

    def take_ahead(self) -> list[Answer] | None:
        """The answers to ``run``'s ``ahead`` commands if they went out with the EXAMINE (once)."""
        answer, self._ahead = self._ahead, None
        return answer

    def client(self, ahead: Ahead | None = None) -> IMAPClient:
        """The connected client with ``folder`` EXAMINEd; re-opening a folder checks UIDVALIDITY."""
        fresh = self._client is None
        client = self._client if self._client is not None else self._connect()
        self._client = client
        if self.folder is None or self._selected == self.folder:
            return client
        try:
            self._examine(client, self.folder, ahead)
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

    def _examine(self, client: IMAPClient, folder: str, ahead: Ahead | None = None) -> None:
        """EXAMINE ``folder`` (read-only SELECT) and check its UIDVALIDITY against earlier ones."""
        self._selected = None
        log.debug("EXAMINE %s", folder)
        try:
            with self.errors(f"searching folder {folder!r}"):
                command = ahead(client) if ahead is not None else None
                info = self._pipelined_examine(client, folder, command) if command else None
            if info is None:  # not pipelined, or it failed: EXAMINE alone says why
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

    def _pipelined_examine(
        self, client: IMAPClient, folder: str, ahead: list[Command]
    ) -> dict[bytes, Any] | None:
        """EXAMINE and ``ahead`` in one write; the EXAMINE's answer, None if it did not open."""
        imap: Any = client._imap
        imap.untagged_responses = {}  # as imaplib's select() does: only this folder's answers
        imap.is_readonly = True
        examine: Command = ("EXAMINE", [b"EXAMINE", client._normalise_folder(folder)])
        answers = pipeline.exchange(client, [examine, *ahead])
        if answers is None or answers[0][0] != "OK":
            return None
        imap.state = "SELECTED"
        info: dict[bytes, Any] = client._process_select_response(imap.untagged_responses)
        self._ahead = answers[1:]
        return info

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
