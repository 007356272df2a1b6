"""IMAP failures: which are transient, and the inbox_finder error each one becomes.

Everything imapclient, imaplib, ssl and socket raise is translated here into the error tree
(one line naming host:port, never a secret: the session passes a ``clean`` that blanks it).
NO/BAD answers are typed by their response code (codes.py): a ``NO [LIMIT]`` to LOGIN is a
transient server limit (exit 4 after retries), not a wrong password (exit 3).
"""

from __future__ import annotations

import imaplib
import socket
import ssl
from collections.abc import Callable, Mapping

from imapclient.exceptions import LoginError

from inbox_finder.errors import (
    AuthError,
    FolderNotFoundError,
    InboxFinderError,
    MailboxError,
    MessageVanishedError,
)
from inbox_finder.net import tls

from . import codes

_REFUSED: Mapping[codes.Outcome, type[InboxFinderError]] = {
    codes.Outcome.AUTH: AuthError,
    codes.Outcome.FOLDER: FolderNotFoundError,
    codes.Outcome.VANISHED: MessageVanishedError,
}


def is_transient(exc: BaseException | None) -> bool:
    """True for failures a fresh connection may not repeat (see session.py)."""
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
    if isinstance(exc, imaplib.IMAP4.error):  # NO/BAD, LoginError: the code decides
        known = codes.meaning(server_text(exc))
        return known is not None and known.outcome is codes.Outcome.TRANSIENT
    return isinstance(exc, OSError)  # refused, reset, timed out, unreachable


def server_text(exc: BaseException) -> str:
    """One line of what the server/library said (bytes reprs decoded, length capped)."""
    arg = exc.args[0] if exc.args else exc
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    if text.startswith(("b'", 'b"')) and text.endswith(text[1]):
        text = text[2:-1]
    text = " ".join(text.split())
    return text[:200] or type(exc).__name__


def unwrap(exc: Exception) -> Exception:
    """The real failure behind imapclient's LoginError when the connection broke mid-login.

    imapclient turns *any* error during LOGIN/AUTHENTICATE into LoginError, so a reset or an
    EOF there would read as a rejected password (exit 3, never retried); it is a dropped
    connection. A timeout or reset while reading is not wrapped (it is no IMAPClientError).
    """
    context = exc.__context__
    if isinstance(exc, LoginError) and isinstance(context, imaplib.IMAP4.abort | OSError):
        return context
    return exc


def translate(
    exc: Exception, doing: str, where: str, user: str, clean: Callable[[BaseException], str]
) -> InboxFinderError:
    """The error ``exc`` stands for while ``doing`` with ``user`` at ``where``."""
    if isinstance(exc, LoginError):
        return _login_refused(clean(exc), where, user)
    if isinstance(exc, ssl.SSLError):
        return MailboxError(tls.describe(exc, where, doing))
    if isinstance(exc, socket.gaierror):
        return MailboxError(f"cannot resolve {where}: {exc.strerror}")
    if isinstance(exc, TimeoutError):
        return MailboxError(f"{where} timed out while {doing}")
    if isinstance(exc, ConnectionRefusedError):
        return MailboxError(f"connection to {where} refused")
    if isinstance(exc, OSError):
        return MailboxError(f"connection to {where} failed while {doing}: {exc.strerror or exc}")
    if isinstance(exc, imaplib.IMAP4.abort):
        return MailboxError(f"{where} dropped the connection while {doing}: {clean(exc)}")
    if isinstance(exc, imaplib.IMAP4.error):
        return _refused(clean(exc), doing, where)
    # Parser/library surprises still never escape untranslated (the cause is chained).
    return MailboxError(f"unexpected {type(exc).__name__} from {where} while {doing}")


def _login_refused(text: str, where: str, user: str) -> InboxFinderError:
    """A NO to LOGIN/AUTHENTICATE: a wrong password only when its code says so (codes.py)."""
    known = codes.meaning(text)
    if known is None:  # no code: what servers send for a wrong password
        return AuthError(f"{where} rejected the login of {user}: {text}")
    if known.outcome is codes.Outcome.AUTH:
        return AuthError(f"{where} rejected the login of {user} ({known.explain}): {text}")
    if known.outcome is codes.Outcome.TRANSIENT:
        return MailboxError(f"{where} could not log in {user} right now ({known.explain}): {text}")
    return MailboxError(f"{where} refused the login of {user} ({known.explain}): {text}")


def _refused(text: str, doing: str, where: str) -> InboxFinderError:
    """A NO/BAD to any other command, typed by its response code."""
    known = codes.meaning(text)
    if known is None:
        return MailboxError(f"{where} refused {doing}: {text}")
    error = _REFUSED.get(known.outcome, MailboxError)
    return error(f"{where} refused {doing} ({known.explain}): {text}")
