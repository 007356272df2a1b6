"""IMAP response codes (RFC 5530) and server texts: what each means for a lookup, as a table.

A NO to LOGIN is not always a wrong password: Dovecot answers ``NO [LIMIT] Maximum number of
connections from user+IP exceeded`` when ``mail_max_userip_connections`` (default 10) is
reached, and ``NO [UNAVAILABLE]`` when its user database is down. The bracketed code decides:

    code                  outcome    exit  meaning
    AUTHENTICATIONFAILED  AUTH       3     the credentials were rejected
    AUTHORIZATIONFAILED   AUTH       3     valid credentials, but not for this mailbox
    EXPIRED               AUTH       3     the password (or other credential) has expired
    CONTACTADMIN          AUTH       3     the server wants its administrator contacted
    UNAVAILABLE           TRANSIENT  4*    temporary failure (e.g. the auth backend is down)
    LIMIT                 TRANSIENT  4*    a server limit, e.g. connections per user and IP
    INUSE                 TRANSIENT  4*    the mailbox is locked by another session
    SERVERBUG             TRANSIENT  4*    the server failed; another try may pass
    PRIVACYREQUIRED       MAILBOX    4     the server wants a protected connection (TLS hint)
    NOPERM                MAILBOX    4     no permission (ACL) for the folder
    NONEXISTENT           FOLDER     4     the folder does not exist
    EXPUNGEISSUED         VANISHED   4     the message was expunged meanwhile (skipped)
    CORRUPTION, CANNOT, CLIENTBUG, OVERQUOTA, ALREADYEXISTS           MAILBOX 4
    text "Too many simultaneous connections" (Gmail, as [ALERT])    TRANSIENT 4*

    * retried with jittered backoff within the retry budget, then exit 4 naming the code.

A NO to LOGIN without a code stays AUTH (exit 3): that is what servers send for a wrong password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What a response code means for the lookup."""

    AUTH = "auth"  # AuthError, exit 3, never retried
    TRANSIENT = "transient"  # MailboxError, exit 4, retried first
    MAILBOX = "mailbox"  # MailboxError, exit 4, not retried
    FOLDER = "folder"  # FolderNotFoundError, exit 4
    VANISHED = "vanished"  # MessageVanishedError: the engine skips the message


@dataclass(frozen=True)
class Meaning:
    """One row of the table: the outcome and the words that explain it to the user."""

    outcome: Outcome
    explain: str


# RFC 5530 section 3, every code it defines.
RFC5530: Mapping[str, Meaning] = {
    "UNAVAILABLE": Meaning(Outcome.TRANSIENT, "the server is temporarily unavailable"),
    "AUTHENTICATIONFAILED": Meaning(Outcome.AUTH, "wrong user name, password or token"),
    "AUTHORIZATIONFAILED": Meaning(
        Outcome.AUTH, "the credentials are valid but may not open this mailbox"
    ),
    "EXPIRED": Meaning(Outcome.AUTH, "the password has expired; change it, then try again"),
    "PRIVACYREQUIRED": Meaning(
        Outcome.MAILBOX,
        "the server requires a protected connection (check that imaps:// or STARTTLS "
        "reaches the server itself, not a proxy that ends TLS)",
    ),
    "CONTACTADMIN": Meaning(Outcome.AUTH, "the server asks to contact its administrator"),
    "NOPERM": Meaning(Outcome.MAILBOX, "no permission for this folder"),
    "INUSE": Meaning(Outcome.TRANSIENT, "the mailbox is in use by another session"),
    "EXPUNGEISSUED": Meaning(Outcome.VANISHED, "the message was expunged meanwhile"),
    "CORRUPTION": Meaning(Outcome.MAILBOX, "the server reports a corrupt mailbox"),
    "SERVERBUG": Meaning(Outcome.TRANSIENT, "the server hit an internal error"),
    "CLIENTBUG": Meaning(Outcome.MAILBOX, "the server says the command was wrong"),
    "CANNOT": Meaning(Outcome.MAILBOX, "the server cannot do this"),
    "LIMIT": Meaning(Outcome.TRANSIENT, "a server limit was reached"),
    "OVERQUOTA": Meaning(Outcome.MAILBOX, "the mailbox is over its quota"),
    "ALREADYEXISTS": Meaning(Outcome.MAILBOX, "the server says it already exists"),
    "NONEXISTENT": Meaning(Outcome.FOLDER, "the folder does not exist"),
}

# Texts that mean a code without saying it (checked first, case-insensitively).
TEXTS: Mapping[str, Meaning] = {
    # Gmail: "NO [ALERT] Too many simultaneous connections. (Failure)" (15 per account).
    "too many simultaneous connections": Meaning(
        Outcome.TRANSIENT, "too many connections to this account at once"
    ),
}

_CODE = re.compile(r"\[([A-Z][A-Z0-9-]*)[ \]]", re.IGNORECASE)


def meaning(text: str) -> Meaning | None:
    """What a NO/BAD/BYE answer means (see the table), or None when it carries no known code."""
    lowered = text.lower()
    for phrase, known in TEXTS.items():
        if phrase in lowered:
            return known
    for match in _CODE.finditer(text):
        coded = RFC5530.get(match.group(1).upper())
        if coded is not None:
            return coded
    return None
