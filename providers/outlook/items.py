"""Graph message items: receivedDateTime, a small header block, the sender, OData quoting."""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from inbox_finder.errors import MailboxError


def odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_received(value: object) -> datetime:
    """Graph's receivedDateTime (ISO 8601, UTC ``Z``) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise MailboxError(f"Graph returned a message without receivedDateTime: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MailboxError(f"Graph returned an unparseable receivedDateTime {value!r}") from exc
    if parsed.tzinfo is None:  # Graph documents UTC; never compare naive wall clocks
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def header_block(item: Mapping[str, Any]) -> bytes | None:
    """A small RFC 822 header block (From, Subject, Message-ID) rebuilt from Graph fields.

    It only lets the engine skip obvious non-candidates without a $value call; the verdict is
    always made on the real MIME. None (fetch everything) when the fields do not fit a header.
    """
    msg = EmailMessage(policy=email.policy.SMTP)
    addr = (item.get("from") or {}).get("emailAddress") or {}

    def clean(value: object) -> str:  # header injection guard: Graph values are user data
        return " ".join(str(value or "").split())

    try:
        if addr.get("address"):
            msg["From"] = formataddr((clean(addr.get("name")), clean(addr.get("address"))))
        if item.get("subject"):
            msg["Subject"] = clean(item["subject"])
        if item.get("internetMessageId"):
            msg["Message-ID"] = clean(item["internetMessageId"])
        return bytes(msg)
    except (ValueError, TypeError, IndexError, UnicodeError):
        return None


def from_address(item: Mapping[str, Any]) -> str:
    addr = (item.get("from") or {}).get("emailAddress") or {}
    return str(addr.get("address") or "").lower()
