"""A body part as the lines the extractor reads: normalised, unquoted, cut at the first quote.

What is removed, and why:

* invisible characters (zero-width space/joiners, word joiner, soft hyphen, BOM, direction
  marks) that editors and HTML mailers slip into text - a token with one inside is still read
  whole, and a longer run is still never cut down to a token;
* a mail gateway's external-sender banner at the very top of the body, with the separator line
  that closes it, which is the same underscore line Outlook writes above a quoted mail;
* quoted lines (``>``, ``|``) and everything after a forward/reply marker, an Outlook quote
  separator, or an Outlook quote header block (``From:`` followed by ``Sent:``/``Date:``).
"""

from __future__ import annotations

import re
import unicodedata

# Format characters that render as nothing; removed before anything is matched.
INVISIBLE = (
    "\u00ad"  # soft hyphen
    "\u180e"  # Mongolian vowel separator (formerly a zero-width space)
    "\u200b\u200c\u200d"  # zero-width space, non-joiner, joiner
    "\u200e\u200f"  # left-to-right / right-to-left marks
    "\u202a\u202b\u202c\u202d\u202e"  # bidirectional embeddings and overrides
    "\u2060\u2061\u2062\u2063\u2064"  # word joiner, invisible operators
    "\u2066\u2067\u2068\u2069"  # bidirectional isolates
    "\ufeff"  # byte order mark / zero-width no-break space
)
_DROP_INVISIBLE = str.maketrans("", "", INVISIBLE)

_CUT_MARKERS = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht|"
    r"ursprüngliche nachricht|message transféré|message d'origine|転送メッセージ)\s*-{2,}|"
    r"begin forwarded message:|_{10,}|"
    r"on .{3,200} wrote:|am .{3,200} schrieb .{1,200}:|le .{3,200} a écrit\s?:)$",
    re.IGNORECASE,
)

# An Outlook quote header block: a From-line directly followed by a Sent/Date-line.
_QUOTE_FROM = re.compile(
    r"^(?:from|von|de|da|van|från|fra|od|kimden|lähettäjä|от|差出人|送信者|发件人|寄件者|"
    r"보낸\s*사람)\s*:\s*\S",
    re.IGNORECASE,
)
_QUOTE_SENT = re.compile(
    r"^(?:sent|date|gesendet|datum|envoyé|date d'envoi|enviado|inviato|data|verzonden|"
    r"skickat|sendt|wysłano|tarih|lähetetty|отправлено|дата|送信日時|日付|发送时间|發送時間|"
    r"傳送時間|日期|보낸\s*날짜)\s*:",
    re.IGNORECASE,
)

# The first line of a gateway's external-sender banner.
_BANNER_START = re.compile(
    r"^(?:[\[(]?\s*(?:external|ext)\b(?:\s+(?:e-?mail|sender|message))?\s*[\])]?\s*:?"
    r"|(?:caution|warning|attention|notice|achtung|vorsicht|warnung|avertissement)\s*:"
    r"|this (?:e-?mail|message) (?:originated|came|was sent|is) from outside"
    r"|diese (?:e-?mail|nachricht) stammt von (?:außerhalb|extern))",
    re.IGNORECASE,
)
# The line that closes it: underscores, dashes, equals signs or asterisks.
_SEPARATOR = re.compile(r"^[_\-=*~]{3,}$")
MAX_BANNER_LINES = 8


def _normalised(text: str) -> list[str]:
    """NFKC, invisible characters removed, white space collapsed; empty lines dropped."""
    lines = []
    for raw in unicodedata.normalize("NFKC", text.translate(_DROP_INVISIBLE)).splitlines():
        line = " ".join(raw.split())
        if line:
            lines.append(line)
    return lines


def banner_end(lines: list[str]) -> int:
    """How many leading lines are a gateway banner and its closing separator (0 if none)."""
    first = 0
    while first < len(lines) and _SEPARATOR.match(lines[first]):
        first += 1  # some gateways draw a rule above the banner too
    if first >= len(lines) or not _BANNER_START.match(lines[first]):
        return 0
    for i in range(first + 1, min(len(lines), first + 1 + MAX_BANNER_LINES)):
        if _SEPARATOR.match(lines[i]):
            return i + 1
    return 0  # no closing separator: the banner lines are harmless text, keep them


def _is_quote_header(lines: list[str], i: int) -> bool:
    return (
        bool(_QUOTE_FROM.match(lines[i]))
        and i + 1 < len(lines)
        and bool(_QUOTE_SENT.match(lines[i + 1]))
    )


def body_lines(text: str) -> list[str]:
    """Normalised, non-empty, unquoted lines, cut at the first forward/reply marker."""
    lines = _normalised(text)
    out = []
    for i in range(banner_end(lines), len(lines)):
        line = lines[i]
        if line.startswith(">") or line.startswith("|"):
            continue  # quoted text never yields a token
        if _CUT_MARKERS.match(line) or _is_quote_header(lines, i):
            break
        out.append(line)
    return out
