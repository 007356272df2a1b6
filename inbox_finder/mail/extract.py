"""Extract the token (and username) from a parsed token mail, using the template table.

Rules: the token follows a token label on the same line (or alone on the next line), is
``[A-Za-z0-9]{20,30}`` (a closing full stop allowed) and is the whole value — a longer run is
never cut down to fit. A username line (``Username: x@y``) precedes it within a few lines in
current mail; legacy mail may lack it. Quoted lines and everything after a forward/reply
marker are ignored (see ``bodylines``). A mail with two different tokens is ambiguous and
yields nothing.

A mail in a language outside the table is matched by structure: a ``label: email`` line, then
``label: value`` within a few lines. The structural rule never takes a value whose label is a
known non-token label (request/session/case/org/user/record id, verification code, OAuth or
access token …), and unless the subject names a *security* token in some table language, the
label must name a token and the value must not look like a hex or decimal id.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

from inbox_finder.mail.bodylines import body_lines
from inbox_finder.mail.parse import ParsedMessage
from inbox_finder.mail.templates import (
    LEGACY_SUBJECT,
    NON_TOKEN_LABELS,
    SUBJECT_PREFIXES,
    TEMPLATES,
    TOKEN_WORDS,
    Template,
)

# ASCII letters and digits only, also inside the labels' case-insensitive patterns: there
# [a-z] would match the dotless i (U+0131) and other letters that fold to ASCII.
TOKEN = r"(?P<token>(?-i:[A-Za-z0-9]){20,30})"  # noqa: S105 - a pattern, not a secret
# A sentence may end right after the token; NFKC has already made a full-width stop ASCII.
TAIL = r"[.。]?"
USERNAME = r"(?P<user>[^\s@:<>]+@[^\s@:<>]+\.[^\s@:<>]+)"
# How many non-empty lines may separate the username line from the token line.
MAX_GAP = 3

_PREFIX_RE = re.compile(
    r"^(?:\s*(?:" + "|".join(SUBJECT_PREFIXES) + r"|(?:re|aw|sv|vs|fw|fwd|wg|tr)\s*:)\s*)+",
    re.IGNORECASE,
)
_REPLY_RE = re.compile(r"^\s*(?:re|aw|sv|vs|antw)\s*:", re.IGNORECASE)
# Compared without case, white space or hyphens: "Sicherheits-Token" is "sicherheitstoken".
_SQUASH = re.compile(r"[\s\-\u2010\u2011\u2012\u2013_]+")
_REMARKS = re.compile(r"\([^)]*\)")


@cache
def _non_token() -> re.Pattern[str]:
    """The known non-token labels (compiled on the first structural check: ~3 ms)."""
    return re.compile("|".join(f"(?:{p})" for p in NON_TOKEN_LABELS))


_ID_LIKE = re.compile(r"[0-9a-f]+|[0-9A-F]+")  # request ids, hashes, numbers: never mixed case


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


@cache  # on first use: an English mail never pays for the other languages' patterns
def _compile(t: Template) -> _Patterns:
    users = "|".join(t.username_labels)
    tokens = "|".join(t.token_labels)
    return _Patterns(
        template=t,
        user_line=re.compile(rf"^(?:{users})\s*:\s*{USERNAME}$", re.IGNORECASE),
        token_line=re.compile(rf"^(?:{tokens})\s*:\s*{TOKEN}{TAIL}$", re.IGNORECASE),
        label_only=re.compile(rf"^(?:{tokens})\s*:?$", re.IGNORECASE),
    )


def _squash(text: str) -> str:
    return _SQUASH.sub("", unicodedata.normalize("NFKC", text).casefold())


_SUBJECT_KEYWORDS = tuple((t.language, _squash(k)) for t in TEMPLATES for k in t.subject_keywords)
_TOKEN_WORDS = tuple(_squash(w) for w in TOKEN_WORDS)
# Any language: "<short label>: <email>" then "<label>: <value>" (structure, not wording).
_STRUCT_USER = re.compile(rf"^[^:]{{1,40}}:\s*{USERNAME}$")
_STRUCT_TOKEN = re.compile(rf"^(?P<label>[^:]{{1,60}}):\s*{TOKEN}{TAIL}$")
# What every rule needs somewhere: a token-shaped value ending a line, after a colon or
# alone. A body without one (a notification that names a token) compiles no template.
_VALUE_AT_END = re.compile(rf"(?:^|:)\s*{TOKEN}{TAIL}$")


def normalize_subject(subject: str) -> str:
    """Strip sandbox, gateway, reply and forward prefixes; NFKC and lower-case."""
    text = unicodedata.normalize("NFKC", subject)
    return _PREFIX_RE.sub("", text).strip().casefold()


def is_reply(subject: str) -> bool:
    """True for ``Re:``-style subjects (after gateway and sandbox prefixes)."""
    text = unicodedata.normalize("NFKC", subject)
    text = re.sub(r"^(?:\s*(?:" + "|".join(SUBJECT_PREFIXES) + r")\s*)+", "", text, flags=re.I)
    return bool(_REPLY_RE.match(text))


_GATEWAY_TAGS = re.compile(
    r"^(?:\s*(?:" + "|".join(p for p in SUBJECT_PREFIXES if p != "sandbox:") + r")\s*)+", re.I
)


def is_sandbox_subject(subject: str) -> bool:
    """Does the subject carry the ``Sandbox:`` prefix Salesforce gives a sandbox's mail?

    Gateway tags may stand before it; a forward or reply prefix means it is not the original.
    """
    text = _GATEWAY_TAGS.sub("", unicodedata.normalize("NFKC", subject))
    return text.lstrip().casefold().startswith("sandbox:")


def subject_language(subject: str) -> str | None:
    """The table language whose security-token keyword the subject names, if any."""
    squashed = _squash(normalize_subject(subject))
    for language, keyword in _SUBJECT_KEYWORDS:
        if keyword in squashed:
            return language
    return None


def subject_mentions_token(subject: str) -> bool:
    """A token mail's subject names the token: a table keyword or a word for "token"."""
    if subject_language(subject) is not None:
        return True
    squashed = _squash(normalize_subject(subject))
    return any(word in squashed for word in _TOKEN_WORDS)


def _token_at(p: _Patterns, lines: Sequence[str], i: int) -> str | None:
    m = p.token_line.match(lines[i])
    if m:
        return m.group("token")
    if p.label_only.match(lines[i]) and i + 1 < len(lines):
        alone = re.fullmatch(TOKEN + TAIL, lines[i + 1])
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
        found.append((token, user))
    return found


def structural_value_ok(label: str, value: str, token_subject: bool) -> bool:
    """May the structural rule take ``value`` after ``label``? (see the module doc)."""
    text = _REMARKS.sub(" ", unicodedata.normalize("NFKC", label).casefold())
    if _non_token().search(text):
        return False
    if token_subject:
        return True
    names_token = any(word in _squash(text) for word in _TOKEN_WORDS)
    return names_token and not _ID_LIKE.fullmatch(value)


def _scan_structural(lines: Sequence[str], token_subject: bool) -> list[tuple[str, str | None]]:
    """(token, username) pairs of the structural rule: it needs both lines."""
    found: list[tuple[str, str | None]] = []
    last_user: tuple[int, str] | None = None
    for i, line in enumerate(lines):
        um = _STRUCT_USER.match(line)
        if um:
            last_user = (i, um.group("user"))
            continue
        m = _STRUCT_TOKEN.match(line)
        if m is None or last_user is None or i - last_user[0] > MAX_GAP:
            continue
        if structural_value_ok(m.group("label"), m.group("token"), token_subject):
            found.append((m.group("token"), last_user[1]))
    return found


def _template_name(subject: str, username: str | None, language: str) -> str:
    if language == "und":
        return "structural"
    if username is None and LEGACY_SUBJECT in normalize_subject(subject):
        return "legacy"
    return "current"


def _decide(pairs: list[tuple[str, str | None]], language: str, subject: str) -> Extraction | None:
    tokens = {token for token, _ in pairs}
    if len(tokens) != 1:
        return None  # two different tokens: refuse to guess
    users = {user for _, user in pairs if user}
    if len(users) > 1:
        return None
    token = tokens.pop()
    username = users.pop() if users else None
    return Extraction(token, username, language, _template_name(subject, username, language))


def _candidate_pairs(parsed: ParsedMessage) -> Iterator[tuple[list[tuple[str, str | None]], str]]:
    """(token, username) pairs per rule, in the order extract() tries them, with the language."""
    subject = parsed.headers.subject
    texts = [body_lines(part.text) for part in parsed.parts]
    if not any(_VALUE_AT_END.search(line) for lines in texts for line in lines):
        return
    for template in TEMPLATES:
        patterns = _compile(template)
        pairs = _pairs(patterns, texts)
        if pairs:
            yield pairs, patterns.template.language
    token_subject = subject_language(subject) is not None
    pairs = [pair for lines in texts for pair in _scan_structural(lines, token_subject)]
    if pairs:
        yield pairs, "und"


def extract(parsed: ParsedMessage) -> Extraction | None:
    """Return the Extraction of a token mail, or None if the body holds no unambiguous token."""
    for pairs, language in _candidate_pairs(parsed):
        return _decide(pairs, language, parsed.headers.subject)
    return None


def _pairs(patterns: _Patterns, texts: Iterable[Sequence[str]]) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for lines in texts:
        pairs.extend(_scan(patterns, lines))
    return pairs


def why_no_token(parsed: ParsedMessage) -> str:
    """Why ``extract`` found nothing, for the summary of rejected mail (never the token)."""
    for pairs, _ in _candidate_pairs(parsed):
        if len({token for token, _ in pairs}) > 1:
            return "ambiguous (two tokens)"
        if len({user for _, user in pairs if user}) > 1:
            return "ambiguous (two usernames)"
    return "no token in the body"
