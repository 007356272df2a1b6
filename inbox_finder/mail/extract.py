"""Extract the token (and username) from a parsed token mail, using the template table.

Rules: the token follows a token label on the same line (or alone on the next line), is
``[A-Za-z0-9]{20,30}`` and is the whole value — a longer run is never cut down to fit. A
username line (``Username: x@y``) precedes it within a few lines in current mail; legacy mail
may lack it. Quoted lines and everything after a forward/reply marker are ignored. A mail with
two different tokens is ambiguous and yields nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from inbox_finder.mail.parse import ParsedMessage
from inbox_finder.mail.templates import (
    GENERIC_SUBJECT_KEYWORDS,
    LEGACY_SUBJECT,
    SUBJECT_PREFIXES,
    TEMPLATES,
    Template,
)

TOKEN = r"(?P<token>[A-Za-z0-9]{20,30})"  # noqa: S105 - a pattern, not a secret
USERNAME = r"(?P<user>[^\s@:<>]+@[^\s@:<>]+\.[^\s@:<>]+)"
# How many non-empty lines may separate the username line from the token line.
MAX_GAP = 3

_CUT_MARKERS = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht|"
    r"message transféré|転送メッセージ)\s*-{2,}|begin forwarded message:|_{10,}|"
    r"on .{3,200} wrote:|am .{3,200} schrieb .{1,200}:)$",
    re.IGNORECASE,
)
_PREFIX_RE = re.compile(
    r"^(?:\s*(?:" + "|".join(SUBJECT_PREFIXES) + r"|(?:re|aw|sv|vs|fw|fwd|wg|tr)\s*:)\s*)+",
    re.IGNORECASE,
)
_REPLY_RE = re.compile(r"^\s*(?:re|aw|sv|vs|antw)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Extraction:
    """What the body says: token, username (None in legacy mail), language, template name."""

    token: str
    username: str | None
    language: str
    template: str


@dataclass(frozen=True)
class _Patterns:
    template: Template
    user_line: re.Pattern[str]
    token_line: re.Pattern[str]
    label_only: re.Pattern[str]


def _compile(t: Template) -> _Patterns:
    users = "|".join(t.username_labels)
    tokens = "|".join(t.token_labels)
    return _Patterns(
        template=t,
        user_line=re.compile(rf"^(?:{users})\s*:\s*{USERNAME}$", re.IGNORECASE),
        token_line=re.compile(rf"^(?:{tokens})\s*:\s*{TOKEN}$", re.IGNORECASE),
        label_only=re.compile(rf"^(?:{tokens})\s*:?$", re.IGNORECASE),
    )


_PATTERNS = tuple(_compile(t) for t in TEMPLATES)
# Any language: "<short label>: <email>" then "<label>: <token>" (structure, not wording).
_GENERIC = _Patterns(
    template=Template("und", (), (), GENERIC_SUBJECT_KEYWORDS),
    user_line=re.compile(rf"^[^:]{{1,40}}:\s*{USERNAME}$"),
    token_line=re.compile(rf"^[^:]{{1,60}}:\s*{TOKEN}$"),
    label_only=re.compile(r"^(?!)"),
)


def normalize_subject(subject: str) -> str:
    """Strip sandbox, gateway, reply and forward prefixes; NFKC and lower-case."""
    text = unicodedata.normalize("NFKC", subject)
    return _PREFIX_RE.sub("", text).strip().casefold()


def is_reply(subject: str) -> bool:
    """True for ``Re:``-style subjects (after gateway and sandbox prefixes)."""
    text = unicodedata.normalize("NFKC", subject)
    text = re.sub(r"^(?:\s*(?:" + "|".join(SUBJECT_PREFIXES) + r")\s*)+", "", text, flags=re.I)
    return bool(_REPLY_RE.match(text))


def subject_mentions_token(subject: str) -> bool:
    """A token mail's subject names the token in some language in the table."""
    norm = normalize_subject(subject)
    keywords = {k for t in TEMPLATES for k in t.subject_keywords} | set(GENERIC_SUBJECT_KEYWORDS)
    return any(k.casefold() in norm for k in keywords)


def body_lines(text: str) -> list[str]:
    """Normalised, non-empty, unquoted lines, cut at the first forward/reply marker."""
    lines = []
    for raw in unicodedata.normalize("NFKC", text).splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if line.startswith(">") or line.startswith("|"):
            continue  # quoted text never yields a token
        if _CUT_MARKERS.match(line):
            break
        lines.append(line)
    return lines


def _token_at(p: _Patterns, lines: Sequence[str], i: int) -> str | None:
    m = p.token_line.match(lines[i])
    if m:
        return m.group("token")
    if p.label_only.match(lines[i]) and i + 1 < len(lines):
        alone = re.fullmatch(TOKEN, lines[i + 1])
        if alone:
            return alone.group("token")
    return None


def _scan(p: _Patterns, lines: Sequence[str]) -> list[tuple[str, str | None]]:
    """All (token, username) pairs this template finds in the lines."""
    found: list[tuple[str, str | None]] = []
    last_user: tuple[int, str] | None = None
    for i, line in enumerate(lines):
        um = p.user_line.match(line)
        if um:
            last_user = (i, um.group("user"))
            continue
        token = _token_at(p, lines, i)
        if token is None:
            continue
        user = last_user[1] if last_user and i - last_user[0] <= MAX_GAP else None
        if p is _GENERIC and user is None:
            continue  # the structural rule needs both lines
        found.append((token, user))
    return found


def _template_name(subject: str, username: str | None, language: str) -> str:
    if language == "und":
        return "structural"
    if username is None and LEGACY_SUBJECT in normalize_subject(subject):
        return "legacy"
    return "current"


def extract(parsed: ParsedMessage) -> Extraction | None:
    """Return the Extraction of a token mail, or None if the body holds no unambiguous token."""
    texts = [part.text for part in parsed.parts]
    for patterns in (*_PATTERNS, _GENERIC):
        pairs = _pairs(patterns, texts)
        if not pairs:
            continue
        tokens = {token for token, _ in pairs}
        if len(tokens) != 1:
            return None  # two different tokens: refuse to guess
        token = tokens.pop()
        users = {user for _, user in pairs if user}
        if len(users) > 1:
            return None
        username = users.pop() if users else None
        language = patterns.template.language
        return Extraction(
            token=token,
            username=username,
            language=language,
            template=_template_name(parsed.headers.subject, username, language),
        )
    return None


def _pairs(patterns: _Patterns, texts: Iterable[str]) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for text in texts:
        pairs.extend(_scan(patterns, body_lines(text)))
    return pairs


def why_no_token(parsed: ParsedMessage) -> str:
    """Why ``extract`` found nothing, for the summary of rejected mail (never the token)."""
    texts = [part.text for part in parsed.parts]
    for patterns in (*_PATTERNS, _GENERIC):  # the order extract() tries them in
        pairs = _pairs(patterns, texts)
        if not pairs:
            continue
        if len({token for token, _ in pairs}) > 1:
            return "ambiguous (two tokens)"
        if len({user for _, user in pairs if user}) > 1:
            return "ambiguous (two usernames)"
    return "no token in the body"
