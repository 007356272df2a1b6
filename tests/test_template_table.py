"""Every row of the template table reads its own mail: username line, token line, label alone
with the token on the next line, any letter case, every listed username label.

The patterns are compiled once, at import; ``make mutation`` (TESTING.md) forks every mutant
from an already imported process, so the first test compiles each row again through
``_compile`` and reads the sample lines with what it returns.
"""

from __future__ import annotations

from inbox_finder.mail.extract import _compile, extract, subject_language
from inbox_finder.mail.parse import Headers, ParsedMessage, TextPart
from inbox_finder.mail.templates import TEMPLATES

TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"
DANA = "dana@example.com"
# language -> (subject, username labels as written, token label as written)
SAMPLES = {
    "en": ("Your new Salesforce security token", ["Username", "User ID"], "Security token"),
    "ja": ("新しいセキュリティトークン", ["ユーザ名", "ユーザー名"], "セキュリティトークン"),
    "de": ("Ihr neues Salesforce-Sicherheitstoken", ["Benutzername"], "Sicherheitstoken"),
    "fr": ("Votre nouveau jeton de sécurité", ["Nom d'utilisateur"], "Jeton de sécurité"),
    "es": ("Su nuevo token de seguridad", ["Nombre de usuario"], "Token de seguridad"),
    "pt": (
        "Seu novo token de segurança",
        ["Nome de usuário", "Nome de utilizador"],
        "Token de segurança",
    ),
    "ru": ("Ваш новый маркер безопасности", ["Имя пользователя"], "Маркер безопасности"),
    "fi": ("Uusi suojaustunnuksesi", ["Käyttäjänimi", "Käyttäjätunnus"], "Suojaustunnus"),
}


def _extract(subject: str, body: str) -> tuple[str, str | None, str, str] | None:
    found = extract(ParsedMessage(Headers(subject=subject), (TextPart("plain", body),)))
    return (found.token, found.username, found.language, found.template) if found else None


def _cases(language: str) -> list[tuple[str, str]]:
    """(subject, body) in every form the template's patterns must read."""
    subject, user_labels, token_label = SAMPLES[language]
    out = []
    for label in user_labels:
        for case in (str, str.upper, str.lower):
            out.append((subject, f"{case(label)}: {DANA}\n{case(token_label)}: {TOKEN}\n"))
            out.append((subject, f"{case(label)}: {DANA}\n{case(token_label)} (x):\n{TOKEN}.\n"))
    return out


def test_each_rows_compiled_patterns_read_its_lines() -> None:
    rows = {t.language: t for t in TEMPLATES}
    for language, (_, user_labels, token_label) in SAMPLES.items():
        patterns = _compile(rows[language])
        assert patterns.template is rows[language]
        for label in user_labels:
            for case in (str, str.upper, str.lower):
                user = patterns.user_line.match(f"{case(label)} : {DANA}")
                assert user is not None and user.group("user") == DANA, (language, label)
                line = patterns.token_line.match(f"{case(token_label)} (x): {TOKEN}.")
                assert line is not None and line.group("token") == TOKEN, (language, label)
                assert patterns.label_only.match(f"{case(token_label)}:"), language
                assert patterns.label_only.match(case(token_label)), language
        assert not patterns.token_line.match(f"{token_label}: {TOKEN}XXXXXX")
        assert not patterns.token_line.match(f"x {token_label}: {TOKEN}")
        assert not patterns.user_line.match(f"{user_labels[0]}: {DANA} x")
        assert not patterns.label_only.match(f"{token_label}: {TOKEN}")


def test_every_template_reads_its_mail_in_every_form() -> None:
    for language in SAMPLES:
        for subject, body in _cases(language):
            got = _extract(subject, body)
            assert got == (TOKEN, DANA, language, "current"), (language, body, got)


def test_a_row_never_reads_a_value_of_the_wrong_shape() -> None:
    for language in SAMPLES:
        subject, user_labels, token_label = SAMPLES[language]
        for value in (TOKEN + "X" * 6, TOKEN[:19], f"{TOKEN} extra"):
            body = f"{user_labels[0]}: {DANA}\n{token_label}: {value}\n"
            assert _extract(subject, body) is None, (language, value)
        # The label alone, then a line that is not only the token.
        body = f"{user_labels[0]}: {DANA}\n{token_label}:\nsee {TOKEN}\n"
        assert _extract(subject, body) is None, language


def test_subjects_name_their_language() -> None:
    for language, (subject, _, _) in SAMPLES.items():
        assert subject_language(subject) == language
