"""The template table: how token mails read in each language. Adding a language is data only.

Each entry lists the label texts (regular-expression fragments, matched case-insensitively after
Unicode NFKC normalisation, so full-width colons and brackets match too) for the username line
and the token line, and the subject keywords that mark a token mail. ``verified`` says whether a
real copy of the mail was seen; unverified rows still require the same structure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """One language's token-mail wording."""

    language: str
    username_labels: tuple[str, ...]
    token_labels: tuple[str, ...]
    subject_keywords: tuple[str, ...]
    verified: bool = False


TEMPLATES: tuple[Template, ...] = (
    Template(
        language="en",
        username_labels=(r"user\s*name", r"user\s*id"),
        token_labels=(r"security\s+token(?:\s*\(case[- ]sensitive\))?",),
        subject_keywords=("security token",),
        verified=True,
    ),
    Template(
        language="ja",
        username_labels=("ユーザ名", "ユーザー名"),
        token_labels=(r"セキュリティトークン(?:\s*\(大文字と小文字を区別\))?",),
        subject_keywords=("セキュリティトークン",),
        verified=True,
    ),
    # Unverified: wording taken from Salesforce's translated help; the structure rule still holds.
    Template(
        language="de",
        username_labels=("benutzername",),
        token_labels=(r"sicherheitstoken(?:\s*\(groß-/kleinschreibung beachten\))?",),
        subject_keywords=("sicherheitstoken",),
    ),
    Template(
        language="fr",
        username_labels=(r"nom\s+d'utilisateur",),
        token_labels=(r"jeton\s+de\s+sécurité(?:\s*\([^)]*\))?",),
        subject_keywords=("jeton de sécurité",),
    ),
    Template(
        language="es",
        username_labels=(r"nombre\s+de\s+usuario",),
        token_labels=(r"token\s+de\s+seguridad(?:\s*\([^)]*\))?",),
        subject_keywords=("token de seguridad",),
    ),
)

#: Legacy (2013-2016) mails: the subject that marks them; their body may lack a username line.
LEGACY_SUBJECT = "salesforce.com security token confirmation"

#: Subject prefixes added by sandboxes, gateways and forwarding, stripped before matching.
SUBJECT_PREFIXES = (
    r"sandbox:",
    r"\(external(?: email)?\)",
    r"\[external(?: email)?\]",
    r"external:",
    r"ext:",
    r"\[ext\]",
)

#: Any subject of a token mail mentions one of these (the union of the table plus generic words).
GENERIC_SUBJECT_KEYWORDS = ("token", "トークン", "jeton")
