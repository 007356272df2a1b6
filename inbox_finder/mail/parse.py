"""MIME to text: headers we need, and every text/plain and text/html part decoded to str.

Robust against broken mail: unknown charsets fall back (never raise), nesting and part counts
are capped. Attached messages (every ``message/*`` part: ``message/rfc822``, ``message/global``,
delivery-status reports; and ``text/rfc822-headers``) and parts marked as attachments, multipart
ones included, are not read: an attached or bounced token mail never yields a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.message import Message

# The email package (and html.parser) are imported inside the functions that use them: a
# lookup that parses nothing - an empty or unchanged mailbox - starts noticeably faster.

log = logging.getLogger(__name__)

MAX_PARTS = 100
MAX_DEPTH = 12
MAX_PART_CHARS = 1_000_000
# Charsets mail software mislabels; the right-hand codec is a superset that decodes them.
_CHARSET_SUPERSETS = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
}


@dataclass(frozen=True)
class TextPart:
    """One decoded body part: ``kind`` is ``plain`` or ``html`` (already rendered to text)."""

    kind: str
    text: str


@dataclass(frozen=True)
class Headers:
    """The headers the extractor and trust policy read, decoded, never raising."""

    subject: str = ""
    from_raw: str = ""
    message_id: str | None = None
    date: datetime | None = None
    received_dates: tuple[datetime, ...] = ()
    auth_results: tuple[str, ...] = ()  # topmost first, as the message carries them
    content_type: str = ""  # of the message itself, e.g. multipart/report for a bounce


@dataclass(frozen=True)
class ParsedMessage:
    """Headers plus text parts of one message."""

    headers: Headers
    parts: tuple[TextPart, ...] = field(default=())


def parse_date(value: str | None) -> datetime | None:
    """Parse an RFC 5322 date to aware UTC; None if absent or bogus (never a sentinel)."""
    if not value:
        return None
    import email.utils

    try:
        parsed = email.utils.parsedate_to_datetime(str(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        # RFC 5322 "-0000" means UTC with unknown local zone; parsedate gives naive for it.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _header_str(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:
        log.debug("unreadable %s header", name)
        return ""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        return ""
    return " ".join(text.split())


def _all_headers(msg: Message, name: str) -> list[str]:
    try:
        values = msg.get_all(name) or []
    except Exception:
        return []
    out = []
    for value in values:
        try:
            out.append(" ".join(str(value).split()))
        except Exception:  # noqa: S112 - skip one undecodable header, keep the rest
            continue
    return out


def read_headers(msg: Message) -> Headers:
    """Extract the headers we use from a parsed message (or a header-only parse)."""
    received = []
    for value in _all_headers(msg, "Received"):
        _, _, when = value.rpartition(";")
        parsed = parse_date(when)
        if parsed is not None:
            received.append(parsed)
    return Headers(
        subject=_header_str(msg, "Subject"),
        from_raw=_header_str(msg, "From"),
        message_id=_header_str(msg, "Message-ID") or None,
        date=parse_date(_header_str(msg, "Date")),
        received_dates=tuple(received),
        auth_results=tuple(_all_headers(msg, "Authentication-Results")),
        content_type=_content_type(msg),
    )


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:
        log.debug("unreadable Content-Type header")
        return ""


def parse_headers(raw: bytes) -> Headers:
    """Parse only a header block (or the start of a message)."""
    from email import policy
    from email.parser import BytesHeaderParser

    return read_headers(BytesHeaderParser(policy=policy.default).parsebytes(raw))


def _decode_payload(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower()
    codec = _CHARSET_SUPERSETS.get(charset, charset)
    for candidate in (codec, charset, "utf-8"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")  # decodes any bytes; tokens are ASCII either way


def _text_parts(msg: Message, depth: int, out: list[TextPart]) -> None:
    from email.message import Message

    if depth > MAX_DEPTH or len(out) >= MAX_PARTS:
        return
    ctype = msg.get_content_type()
    # Checked before is_multipart(), which is true for message/rfc822: an attached message is
    # someone else's mail (a forward, a bounce) and never speaks for this one.
    if ctype.startswith("message/") or ctype == "text/rfc822-headers":
        return
    if msg.get_content_disposition() == "attachment":
        return
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list):
            for sub in payload[:MAX_PARTS]:
                if isinstance(sub, Message):
                    _text_parts(sub, depth + 1, out)
        return
    if ctype not in ("text/plain", "text/html"):
        return  # images, documents, calendar items
    text = _decode_payload(msg)[:MAX_PART_CHARS]
    if ctype == "text/html":
        from inbox_finder.mail.htmltext import html_to_text

        out.append(TextPart("html", html_to_text(text)))
    else:
        out.append(TextPart("plain", text))


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse a whole message into headers and decoded text parts; never raises on bad MIME."""
    from email import policy
    from email.parser import BytesParser

    msg: Message = BytesParser(policy=policy.default).parsebytes(raw)
    parts: list[TextPart] = []
    try:
        _text_parts(msg, 0, parts)
    except (NameError, ImportError):
        raise  # our bug, not the mail's: never mistake it for hostile MIME
    except Exception as exc:
        log.debug("MIME walk stopped early: %s", type(exc).__name__)
    return ParsedMessage(read_headers(msg), tuple(parts))
