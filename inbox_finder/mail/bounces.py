"""Bounces and delivery reports are never token mails, whatever they quote or attach.

Anyone who can make a salesforce.com server bounce a crafted mail gets that mail returned with a
trusted From address (``MAILER-DAEMON@…salesforce.com``, or ``support@`` with an Exchange-style
"Undeliverable:" subject) and the crafted text inside. Such a mail is recognised from its
headers alone, before its body is read: by its report content type (RFC 3464/8098
``multipart/report``), by a mail-system sender, or by a bounce subject in any common language.
All three lists are data; extend them freely.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inbox_finder.mail.parse import Headers

#: Content types of a whole message that make it a report, not a token mail.
REPORT_TYPES = frozenset(
    {
        "multipart/report",  # delivery status (RFC 3464), read receipts (RFC 8098), ARF
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "message/feedback-report",
        "message/rfc822",  # a message that is nothing but another message
        "message/global",
    }
)

#: Local parts of the mail system's own addresses (RFC 5321 postmaster, MTA daemons).
BOUNCE_SENDERS = frozenset(
    {"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mail.delivery.system"}
)

#: Subject fragments of bounces and delays (case-folded, NFKC), as MTAs and Exchange write them.
BOUNCE_SUBJECTS = (
    # Postfix, Sendmail, Exim, qmail, Gmail, Exchange, Yahoo
    "undeliverable",
    "undelivered mail",
    "undelivered message",
    "returned to sender",
    "returned mail",
    "delivery status notification",
    "delivery notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "delivery delayed",
    "delivery incomplete",
    "mail delivery failed",
    "mail delivery failure",
    "mail delivery system",
    "mail system error",
    "failure notice",
    "non-delivery",
    "nondeliverable",
    "non deliverable",
    "not delivered",
    "could not be delivered",
    "could not send message",
    # Exchange and Outlook in other languages
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "non distribuable",
    "impossible de remettre",
    "no se puede entregar",
    "no entregado",
    "non recapitabile",
    "não entregue",
    "não é possível entregar",
    "onbestelbaar",
    "olevererbart",
    "ikke leveret",
    "kan ikke leveres",
    "ei voitu toimittaa",
    "nie można dostarczyć",
    "niedostarczalne",
    "teslim edilemedi",
    "не доставлено",
    "недоставлено",
    "невозможно доставить",
    "配信不能",
    "配信できません",
    "未配信",
    "无法投递",
    "无法送达",
    "無法傳遞",
    "無法投遞",
    "배달되지 않음",
    "전달되지 않음",
    "배달 실패",
)


def _sender_local_part(from_raw: str) -> str:
    from email.utils import parseaddr  # lazy: email.utils costs start-up

    address = parseaddr(from_raw)[1]
    return address.rpartition("@")[0].casefold() if "@" in address else ""


def bounce_reason(headers: Headers) -> str | None:
    """Why these headers mark a bounce or delivery report; None for any other mail."""
    if headers.content_type in REPORT_TYPES:
        return f"content type {headers.content_type}"
    local = _sender_local_part(headers.from_raw)
    if local in BOUNCE_SENDERS:
        return f"sent by {local}"
    subject = unicodedata.normalize("NFKC", headers.subject).casefold()
    for fragment in BOUNCE_SUBJECTS:
        if fragment in subject:
            return f"subject says {fragment!r}"
    return None
