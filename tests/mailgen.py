"""Build realistic token mails and look-alikes on the fly (for scan, IMAP and bulk tests)."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

ALPHABET = string.ascii_letters + string.digits


def new_token(length: int = 25) -> str:
    """A random token-shaped string."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def token_mail(
    token: str,
    username: str = "dana@example.com",
    when: datetime | None = None,
    sender: str = "support@salesforce.com",
    subject: str = "Your new Salesforce security token",
) -> bytes:
    """A current-template token mail."""
    msg = EmailMessage()
    msg["From"] = f"Salesforce <{sender}>"
    msg["To"] = "dana@example.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="salesforce.com")
    msg.set_content(
        "We've sent you a new Salesforce security token because you recently changed your\n"
        "password or requested to reset your security token.\n\n"
        f"Username: {username}\nSecurity token (case-sensitive): {token}\n\n"
        "For more information on using your security token, see Reset Your Security Token.\n"
    )
    return msg.as_bytes()


def verification_mail(username: str = "dana@example.com", when: datetime | None = None) -> bytes:
    """The identity-verification look-alike (has a Username line, no token)."""
    msg = EmailMessage()
    msg["From"] = "Salesforce <noreply@salesforce.com>"
    msg["To"] = "dana@example.com"
    msg["Subject"] = "Verify your identity in Salesforce"
    msg["Date"] = format_datetime(when or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="salesforce.com")
    msg.set_content(f"Username: {username}\nVerification Code: 872221\n")
    return msg.as_bytes()


def other_mail(i: int, when: datetime | None = None, sender: str = "news@example.org") -> bytes:
    """An unrelated message."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "dana@example.com"
    msg["Subject"] = f"Weekly digest #{i}"
    msg["Date"] = format_datetime(when or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(f"Nothing to see here, item {i}.\n" * 20)
    return msg.as_bytes()
