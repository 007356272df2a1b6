"""Extractor rules on hand-made bodies, and Hypothesis on hostile input."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox_finder.engine import Rejection, evaluate
from inbox_finder.mail.extract import extract, is_reply, normalize_subject, subject_mentions_token
from inbox_finder.mail.parse import Headers, ParsedMessage, TextPart, parse_message
from inbox_finder.model import Candidate, Finding
from inbox_finder.trust.policy import TrustPolicy

TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"
WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _parsed(body: str, subject: str = "Your new Salesforce security token") -> ParsedMessage:
    return ParsedMessage(Headers(subject=subject), (TextPart("plain", body),))


def _token(body: str) -> str | None:
    found = extract(_parsed(body))
    return found.token if found else None


def test_current_template() -> None:
    found = extract(
        _parsed(f"Username: dana@example.com\nSecurity token (case-sensitive): {TOKEN}\n")
    )
    assert found is not None
    assert (found.token, found.username, found.language) == (TOKEN, "dana@example.com", "en")


def test_longer_run_is_never_cut_down() -> None:
    assert _token(f"Username: a@b.com\nSecurity token (case-sensitive): {TOKEN}{TOKEN}") is None


def test_run_shorter_than_20_is_no_token() -> None:
    assert _token("Username: a@b.com\nSecurity token (case-sensitive): abc123DEF456ghi789") is None


def test_trailing_text_after_token_is_refused() -> None:
    assert _token(f"Username: a@b.com\nSecurity token (case-sensitive): {TOKEN} (expires)") is None


def test_token_on_the_line_after_its_label() -> None:
    assert _token(f"Username: a@b.com\nSecurity token (case-sensitive):\n{TOKEN}") == TOKEN


def test_two_different_tokens_are_ambiguous() -> None:
    other = "Zz9" * 8
    body = f"Username: a@b.com\nSecurity token: {TOKEN}\nUsername: a@b.com\nSecurity token: {other}"
    assert _token(body) is None


def test_quoted_and_forwarded_text_never_yields() -> None:
    assert _token(f"> Username: a@b.com\n> Security token (case-sensitive): {TOKEN}") is None
    fwd = f"See below\n---------- Forwarded message ---------\nUsername: a@b.com\nSecurity token: {TOKEN}"
    assert _token(fwd) is None
    reply = f"Thanks!\nOn Mon, 1 Jan 2024 at 10:00, Bob <b@x.com> wrote:\nUsername: a@b.com\nSecurity token: {TOKEN}"
    assert _token(reply) is None


def test_full_width_japanese_punctuation() -> None:
    body = f"ユーザ名：dana@example.com\nセキュリティトークン（大文字と小文字を区別）：{TOKEN}"
    found = extract(_parsed(body, "新しいセキュリティトークン"))
    assert found is not None and (found.language, found.token) == ("ja", TOKEN)


def test_unknown_language_matched_by_structure() -> None:
    # Czech is not in the template table: only the structural rule can match it.
    body = f"Uživatelské jméno: dana@example.com\nToken zabezpečení (rozlišují se malá a velká písmena): {TOKEN}"
    found = extract(_parsed(body, "Váš nový token zabezpečení Salesforce"))
    assert found is not None
    assert (found.language, found.template, found.username) == (
        "und",
        "structural",
        "dana@example.com",
    )


def test_structure_needs_the_username_line() -> None:
    assert extract(_parsed(f"Kode: {TOKEN}", "Ditt token")) is None


def test_verification_code_is_no_token() -> None:
    assert _token("Username: dana@example.com\nVerification Code: 872221") is None


def test_subject_rules() -> None:
    assert normalize_subject(
        "Sandbox: (External Email) FW: Your new Salesforce security token"
    ) == ("your new salesforce security token")
    assert subject_mentions_token("salesforce.com security token confirmation")
    assert subject_mentions_token("Your new PatronManager security token")
    assert not subject_mentions_token("Verify your identity in Salesforce")
    assert is_reply("(External Email) RE: Your new Salesforce security token")
    assert not is_reply("Sandbox: Your new Salesforce security token")


def _mail(sender: str, body: str, subtype: str = "plain") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["Subject"] = "Your new Salesforce security token"
    msg.set_content(body, subtype=subtype)
    return msg.as_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_crash_and_never_yield(raw: bytes) -> None:
    result = evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())
    assert isinstance(result, Rejection)


# Mangled MIME and sender look-alikes through the whole pipeline: test_trust_properties.py.


def test_genuine_mail_through_html_and_plain() -> None:
    body = f"Username: dana@example.com\nSecurity token (case-sensitive): {TOKEN}\n"
    html = f"<p>Username: dana@example.com</p><p>Security token (case-sensitive): <b>{TOKEN[:5]}</b>{TOKEN[5:]}</p>"
    for raw in (
        _mail("support@salesforce.com", body),
        _mail("support@salesforce.com", html, "html"),
    ):
        result = evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())
        assert isinstance(result, Finding) and result.token == TOKEN


def test_nested_multipart_depth_is_bounded() -> None:
    inner = f"Content-Type: text/plain\n\nUsername: a@b.com\nSecurity token: {TOKEN}\n"
    raw = inner
    for i in range(60):
        raw = f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n{raw}\n--b{i}--\n'
    parsed = parse_message(("From: support@salesforce.com\n" + raw).encode())
    assert parsed.parts == ()  # deeper than MAX_DEPTH: not read, no crash


def test_header_lookalike_line_in_the_body_is_body_text() -> None:
    """Found by Hypothesis: without a blank line, an invalid header line starts the body."""
    raw = (
        b"From: support@salesforce.com\nSubject: Your new Salesforce security token\n"
        + f"Security token (case-sensitive): {TOKEN}\n".encode()
        + b"Authentication-Results: mx.google.com; dmarc=fail\n"
    )
    assert parse_message(raw).headers.auth_results == ()
    result = evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())
    assert isinstance(result, Finding) and result.username is None
