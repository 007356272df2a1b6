"""Edges of the extractor that mutation testing found unguarded: the structural rule's line gap
and label rules, and the reasons given for a mail that yields nothing."""

from __future__ import annotations

import pytest

from inbox_finder.mail.extract import MAX_GAP, extract, is_sandbox_subject, why_no_token
from inbox_finder.mail.parse import Headers, ParsedMessage, TextPart

TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"
OTHER = "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2R"
DANA = "dana@example.com"
CZECH_SUBJECT = "Váš nový token zabezpečení Salesforce"  # no table language: structure only
EN_SUBJECT = "Your new Salesforce security token"


def _parsed(body: str, subject: str) -> ParsedMessage:
    return ParsedMessage(Headers(subject=subject), (TextPart("plain", body),))


def _token(body: str, subject: str = CZECH_SUBJECT) -> str | None:
    found = extract(_parsed(body, subject))
    return found.token if found else None


@pytest.mark.parametrize("preamble", [0, 1, 2, 5])
@pytest.mark.parametrize("gap", range(1, MAX_GAP + 2))
def test_structural_token_within_the_gap_of_the_username_line(preamble: int, gap: int) -> None:
    filler = [f"Řádek {n}" for n in range(gap - 1)]
    lines = [f"Úvod {n}" for n in range(preamble)]
    lines += [f"Uživatelské jméno: {DANA}", *filler, f"Token zabezpečení: {TOKEN}"]
    assert _token("\n".join(lines)) == (TOKEN if gap <= MAX_GAP else None)


def test_security_token_subject_lets_any_label_carry_the_value() -> None:
    """A subject naming a security token (table language) is enough: the label may be anything,
    even a value that looks like an id is the token."""
    hexlike = "ABCDEF0123456789ABCDEF01"
    body = f"Uživatelské jméno: {DANA}\nKlíč: {hexlike}\n"
    assert _token(body, EN_SUBJECT) == hexlike
    assert _token(body, "Váš nový klíč") is None  # without it, "Klíč" does not name a token


def test_without_a_security_token_subject_the_label_must_name_a_token() -> None:
    assert _token(f"Brukernavn: {DANA}\nKode: {TOKEN}\n", "Ditt token") is None
    assert _token(f"Brukernavn: {DANA}\nVerdi: {TOKEN}\n", "Ditt token") is None
    assert _token(f"Brukernavn: {DANA}\nDitt token: {TOKEN}\n", "Ditt token") == TOKEN


def test_a_remark_in_the_label_is_not_read_as_words() -> None:
    body = f"Uživatelské jméno: {DANA}\nToken (request id): {TOKEN}\n"
    assert _token(body, "Ditt token") == TOKEN  # the remark does not make it a request id


def test_reasons_for_no_token() -> None:
    two_tokens = (
        f"Username: {DANA}\nSecurity token: {TOKEN}\nUsername: {DANA}\nSecurity token: {OTHER}\n"
    )
    two_users = (
        f"Username: {DANA}\nSecurity token: {TOKEN}\n"
        f"Username: ops@example.com\nSecurity token: {TOKEN}\n"
    )
    assert why_no_token(_parsed(two_tokens, EN_SUBJECT)) == "ambiguous (two tokens)"
    assert why_no_token(_parsed(two_users, EN_SUBJECT)) == "ambiguous (two usernames)"
    assert extract(_parsed(two_users, EN_SUBJECT)) is None
    assert why_no_token(_parsed("Hello", EN_SUBJECT)) == "no token in the body"


def test_a_mail_with_a_token_has_no_reason_to_refuse() -> None:
    good = f"Username: {DANA}\nSecurity token: {TOKEN}\n"
    assert extract(_parsed(good, EN_SUBJECT)) is not None
    assert why_no_token(_parsed(good, EN_SUBJECT)) == "no token in the body"


@pytest.mark.parametrize(
    ("subject", "sandbox"),
    [
        ("Sandbox: Your new Salesforce security token", True),
        ("sandbox:Your new Salesforce security token", True),
        ("[EXTERNAL] Sandbox: Your new Salesforce security token", True),
        ("(External Email) Sandbox: Your new Salesforce security token", True),
        ("Your new Salesforce security token", False),
        ("FW: Sandbox: Your new Salesforce security token", False),
        ("RE: Sandbox: Your new Salesforce security token", False),
        ("Sandboxes: Your new Salesforce security token", False),
    ],
)
def test_sandbox_subjects(subject: str, sandbox: bool) -> None:
    assert is_sandbox_subject(subject) is sandbox


def test_template_names() -> None:
    legacy = "salesforce.com security token confirmation"
    with_user = f"Username: {DANA}\nSecurity token (case-sensitive): {TOKEN}\n"
    no_user = f"Security token (case-sensitive): {TOKEN}\n"
    assert extract(_parsed(with_user, EN_SUBJECT)).template == "current"  # type: ignore[union-attr]
    assert extract(_parsed(no_user, EN_SUBJECT)).template == "current"  # type: ignore[union-attr]
    assert extract(_parsed(no_user, legacy)).template == "legacy"  # type: ignore[union-attr]
    assert extract(_parsed(with_user, legacy)).template == "current"  # type: ignore[union-attr]


def test_a_label_alone_on_the_last_line_is_no_token() -> None:
    assert _token(f"Username: {DANA}\nSecurity token (case-sensitive):", EN_SUBJECT) is None
    assert _token(f"Username: {DANA}\nSecurity token (case-sensitive):\n", EN_SUBJECT) is None


@pytest.mark.parametrize("gap", range(1, MAX_GAP + 2))
def test_template_username_within_the_gap(gap: int) -> None:
    filler = "".join(f"Line {n}\n" for n in range(gap - 1))
    body = f"Username: {DANA}\n{filler}Security token (case-sensitive): {TOKEN}\n"
    found = extract(_parsed(body, EN_SUBJECT))
    assert found is not None and found.token == TOKEN
    assert found.username == (DANA if gap <= MAX_GAP else None)


def test_sandbox_subject_with_leading_space() -> None:
    assert is_sandbox_subject(" Sandbox: Your new Salesforce security token")


@pytest.mark.parametrize("letter", ["\u0131", "\u0130"])
def test_token_is_ascii_even_under_case_insensitive_labels(letter: str) -> None:
    """Case-insensitive label patterns must not widen the token's ASCII class: the dotless i
    (U+0131) and I with dot (U+0130) survive NFKC and once came out inside an "English" token
    (the long s and the Kelvin sign become ASCII letters by NFKC, as full-width forms do)."""
    value = ("abc" + letter) * 6
    body = f"Username: {DANA}\nSecurity token: {value}\n"
    assert _token(body, EN_SUBJECT) is None
    assert _token(f"Username: {DANA}\nSecurity token: {TOKEN}\n", EN_SUBJECT) == TOKEN
