"""Builders for realistic token mails and the look-alikes that must never yield a token.

The wording follows the real Salesforce templates (English current and legacy, Japanese, HTML).
Every builder returns raw RFC 822 bytes; ``when`` sets the Date header (now by default) and
``message_id`` the Message-ID (a fresh random one by default). No pytest here.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

ALPHABET = string.ascii_letters + string.digits
SUBJECT = "Your new Salesforce security token"
LEGACY_SUBJECT = "salesforce.com security token confirmation"
JA_SUBJECT = "新しいセキュリティトークン"

CURRENT_TEXT = """\
We've sent you a new Salesforce security token because you recently changed your
password or requested to reset your security token.

Username: {username}
Security token (case-sensitive): {token}

For more information on using your security token, see Reset Your Security Token.
"""

LEGACY_TEXT = """\
Dear Dana Martin,

Your new security token has been generated.

Security token (case-sensitive): {token}

Use this token when you log in to salesforce.com from an API or a desktop client.
"""

JA_TEXT = """\
最近パスワードを変更したか、セキュリティトークンのリセットを要求したため、
新しい Salesforce セキュリティトークンを送信しました。

ユーザ名: {username}
セキュリティトークン (大文字と小文字を区別): {token}
"""

HTML_TEXT = """\
<html><body><table>
<tr><td>We&#39;ve sent you a new Salesforce security token.<br><br></td></tr>
<tr><td><b>Username:&nbsp;</b></td><td><span>{username}</span></td></tr>
<tr><td><b>Security token (case-sensitive):&nbsp;</b></td>
<td><span>{token_head}</span><span>{token_tail}</span></td></tr>
</table></body></html>
"""


def new_token(length: int = 25) -> str:
    """A random token-shaped string."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _message(
    sender: str,
    subject: str,
    when: datetime | None,
    message_id: str | None,
    domain: str,
    to: str = "dana@example.com",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain=domain)
    return msg


def token_mail(
    token: str,
    username: str = "dana@example.com",
    when: datetime | None = None,
    sender: str = "support@salesforce.com",
    subject: str = SUBJECT,
    *,
    message_id: str | None = None,
) -> bytes:
    """A current-template token mail (text/plain)."""
    msg = _message(f"Salesforce <{sender}>", subject, when, message_id, "salesforce.com")
    msg.set_content(CURRENT_TEXT.format(username=username, token=token))
    return msg.as_bytes()


def html_token_mail(
    token: str,
    username: str = "dana@example.com",
    when: datetime | None = None,
    *,
    message_id: str | None = None,
) -> bytes:
    """The HTML-only flavour; the token is split over two ``<span>`` elements."""
    msg = _message("Salesforce <support@salesforce.com>", SUBJECT, when, message_id, "sfdc.net")
    half = len(token) // 2
    html = HTML_TEXT.format(username=username, token_head=token[:half], token_tail=token[half:])
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def japanese_token_mail(
    token: str,
    username: str = "yamada@example.co.jp",
    when: datetime | None = None,
    *,
    message_id: str | None = None,
) -> bytes:
    """The Japanese template (UTF-8 body, RFC 2047 encoded subject)."""
    msg = _message(
        "Salesforce <support@salesforce.com>", JA_SUBJECT, when, message_id, "sfdc.net", username
    )
    msg.set_content(JA_TEXT.format(username=username, token=token), charset="utf-8")
    return msg.as_bytes()


def legacy_token_mail(
    token: str, when: datetime | None = None, *, message_id: str | None = None
) -> bytes:
    """The legacy (2013-2016) template: its own subject, no Username line."""
    msg = _message(
        "salesforce.com <support@salesforce.com>", LEGACY_SUBJECT, when, message_id, "sfdc.net"
    )
    msg.set_content(LEGACY_TEXT.format(token=token))
    return msg.as_bytes()


def verification_mail(
    username: str = "dana@example.com",
    when: datetime | None = None,
    *,
    message_id: str | None = None,
) -> bytes:
    """The identity-verification look-alike (has a Username line, no token)."""
    msg = _message(
        "Salesforce <noreply@salesforce.com>",
        "Verify your identity in Salesforce",
        when,
        message_id,
        "salesforce.com",
    )
    msg.set_content(f"Username: {username}\nVerification Code: 872221\n")
    return msg.as_bytes()


def password_reset_mail(
    username: str = "dana@example.com",
    when: datetime | None = None,
    *,
    message_id: str | None = None,
) -> bytes:
    """The "Finish resetting your password" look-alike from a genuine Salesforce sender."""
    msg = _message(
        "Salesforce <support@salesforce.com>",
        "Finish resetting your Salesforce password",
        when,
        message_id,
        "salesforce.com",
    )
    msg.set_content(
        f"Username: {username}\nTo finish resetting your password, follow this link within "
        "24 hours. If you did not ask for this, contact your administrator.\n"
    )
    return msg.as_bytes()


def spoofed_mail(
    token: str,
    username: str = "dana@example.com",
    when: datetime | None = None,
    *,
    message_id: str | None = None,
) -> bytes:
    """A token-shaped mail From salesforce.com that the receiving server found failing DMARC."""
    raw = token_mail(token, username, when, message_id=message_id)
    verdict = (
        b"Authentication-Results: mx.google.com;\n"
        b"       dkim=fail header.i=@salesforce.com;\n"
        b"       dmarc=fail (p=REJECT) header.from=salesforce.com\n"
    )
    return verdict + raw


def forwarded_mail(
    token: str,
    username: str = "dana@example.com",
    when: datetime | None = None,
    *,
    message_id: str | None = None,
) -> bytes:
    """A colleague forwarding (quoting) a token mail: never the user's token source."""
    msg = _message(
        "Alex Colleague <alex@example.com>", "FW: " + SUBJECT, when, message_id, "example.com"
    )
    quoted = "".join(
        f"> {line}\n" for line in CURRENT_TEXT.format(username=username, token=token).splitlines()
    )
    msg.set_content("Here is the token from this morning's reset.\n\n" + quoted)
    return msg.as_bytes()


def other_mail(
    i: int,
    when: datetime | None = None,
    sender: str = "news@example.org",
    *,
    message_id: str | None = None,
) -> bytes:
    """An unrelated message."""
    msg = _message(sender, f"Weekly digest #{i}", when, message_id, "example.org")
    msg.set_content(f"Nothing to see here, item {i}.\n" * 20)
    return msg.as_bytes()
