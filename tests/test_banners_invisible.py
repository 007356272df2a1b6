"""Gateway banners, invisible characters and trailing dots around the token; quotes still cut.

Mail gateways (Exchange Online, Mimecast, Proofpoint) put an external-sender warning above the
body, often closed by a line of underscores, the same line Outlook writes above a quoted mail.
Editors and HTML mailers slip zero-width characters, soft hyphens or a BOM into text.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox_finder.engine import Rejection, evaluate
from inbox_finder.mail.bodylines import INVISIBLE
from inbox_finder.mail.extract import extract
from inbox_finder.mail.parse import Headers, ParsedMessage, TextPart
from inbox_finder.model import Candidate, Finding
from inbox_finder.trust.policy import TrustPolicy

TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"
OTHER = "Zq8LmN2pQ4rS6tU8vW0xY2zA"
DANA = "dana@example.com"
SUBJECT = "(External Email) Your new Salesforce security token"
TEMPLATE = (
    "We've sent you a new Salesforce security token because you recently changed your password.\n\n"
    f"Username: {DANA}\nSecurity token (case-sensitive): {TOKEN}\n\n"
    "For more information on using your security token, see Reset Your Security Token.\n"
)
UNDERSCORES = "_" * 32
WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _token(body: str, kind: str = "plain") -> str | None:
    found = extract(ParsedMessage(Headers(subject=SUBJECT), (TextPart(kind, body),)))
    return found.token if found else None


def _mail(body: str, subtype: str = "plain", subject: str = SUBJECT) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Salesforce <support@salesforce.com>"
    msg["To"] = DANA
    msg["Subject"] = subject
    msg.set_content(body, subtype=subtype)
    return msg.as_bytes()


def _eval(raw: bytes, policy: TrustPolicy | None = None) -> Finding | Rejection:
    return evaluate(raw, Candidate("x", WHEN), "t:", policy or TrustPolicy())


BANNERS = [
    "CAUTION: This email originated from outside of the organization. Do not click links or "
    f"open attachments unless you recognize the sender and know the content is safe.\n\n{UNDERSCORES}\n",
    # the same banner as a gateway wraps it at 76 columns
    "CAUTION: This email originated from outside of the organization. Do not click\n"
    "links or open attachments unless you recognize the sender and know the content\n"
    f"is safe.\n{UNDERSCORES}\n",
    f"[EXTERNAL]\n{UNDERSCORES}\n",
    f"[EXTERNAL EMAIL] Use caution with links and attachments.\n{UNDERSCORES}\n",
    f"WARNING: External email. Please verify the sender before opening attachments.\n{'-' * 60}\n",
    f"{UNDERSCORES}\nCAUTION: External Sender. Do not click on links.\n{UNDERSCORES}\n",
    f"EXTERNAL: This message came from outside your organization.\n{'_' * 70}\n",
    f"ACHTUNG: Diese E-Mail stammt von außerhalb der Organisation.\n{UNDERSCORES}\n",
]


@pytest.mark.parametrize("banner", BANNERS)
def test_gateway_banner_above_the_body_keeps_the_token(banner: str) -> None:
    assert _token(banner + "\n" + TEMPLATE) == TOKEN
    result = _eval(_mail(banner + "\n" + TEMPLATE))
    assert isinstance(result, Finding) and result.token == TOKEN


def test_html_banner_table_above_the_body_keeps_the_token() -> None:
    html = (
        "<html><body><table><tr><td style='background:#fc0'><b>CAUTION:</b> This email "
        "originated from outside of the organization.</td></tr></table>"
        f"<p>{UNDERSCORES}</p><p>Username: {DANA}<br>"
        f"Security token (case-sensitive): {TOKEN}</p></body></html>"
    )
    result = _eval(_mail(html, "html"))
    assert isinstance(result, Finding) and result.token == TOKEN


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff"])
@pytest.mark.parametrize("where", [1, 12, 24])
def test_invisible_character_inside_the_token_is_ignored(char: str, where: int) -> None:
    hidden = TOKEN[:where] + char + TOKEN[where:]
    assert _token(f"Username: {DANA}\nSecurity token (case-sensitive): {hidden}\n") == TOKEN


@pytest.mark.parametrize("entity", ["&#8203;", "&shy;", "&#xFEFF;", "&zwj;", "&#x2060;"])
def test_invisible_html_entity_inside_the_token_is_ignored(entity: str) -> None:
    html = f"<p>Username: {DANA}<br>Security token (case-sensitive): {TOKEN[:9]}{entity}{TOKEN[9:]}</p>"
    result = _eval(_mail(html, "html"))
    assert isinstance(result, Finding) and result.token == TOKEN


def test_bom_at_the_start_of_the_body_and_lines_is_read_by_the_template() -> None:
    body = f"\ufeffUsername: {DANA}\n\ufeffSecurity token (case-sensitive): {TOKEN}"
    found = extract(ParsedMessage(Headers(subject=SUBJECT), (TextPart("plain", body),)))
    assert found is not None
    assert (found.token, found.username, found.language) == (TOKEN, DANA, "en")


@pytest.mark.parametrize(
    "body",
    [
        f"Username: {DANA}\nSecurity token (case-sensitive): {TOKEN}.\n",
        f"Username: {DANA}\nSecurity token (case-sensitive):\n{TOKEN}.\n",
        f"ユーザ名: {DANA}\nセキュリティトークン (大文字と小文字を区別): {TOKEN}。\n",
    ],
)
def test_trailing_full_stop_after_the_token(body: str) -> None:
    assert _token(body) == TOKEN


def test_invisible_character_does_not_join_a_longer_run_into_a_token() -> None:
    """Removing a zero-width space leaves a 49-character run: never cut down to a token."""
    assert _token(f"Username: {DANA}\nSecurity token: {TOKEN}\u200b{OTHER}\n") is None


# ---------------------------------------------------------------- quotes still cut


OUTLOOK_QUOTE = (
    f"{UNDERSCORES}\n"
    "From: Salesforce <support@salesforce.com>\n"
    "Sent: Monday, January 1, 2024 10:00 AM\n"
    f"To: Dana <{DANA}>\n"
    "Subject: Your new Salesforce security token\n\n"
)
EVERYONE = TrustPolicy(sender_domains=("com", "net", "org"))


@pytest.mark.parametrize("banner", BANNERS)
def test_banner_then_a_quoted_forward_still_yields_nothing(banner: str) -> None:
    body = banner + "\nFYI, see below.\n\n" + OUTLOOK_QUOTE + TEMPLATE
    assert _token(body) is None


def test_banner_directly_above_an_outlook_quote_header_block_yields_nothing() -> None:
    body = BANNERS[0] + OUTLOOK_QUOTE.removeprefix(UNDERSCORES + "\n") + TEMPLATE
    assert _token(body) is None
    result = _eval(_mail(body, subject="FW: Your new Salesforce security token"), EVERYONE)
    assert isinstance(result, Rejection)


def test_outlook_quote_header_block_without_a_separator_is_a_cut() -> None:
    body = "Please see below.\n\n" + OUTLOOK_QUOTE.removeprefix(UNDERSCORES + "\n") + TEMPLATE
    assert _token(body) is None
    german = (
        "Siehe unten.\n\nVon: Salesforce <support@salesforce.com>\n"
        "Gesendet: Montag, 1. Januar 2024 10:00\nAn: Dana\n\n" + TEMPLATE
    )
    assert _token(german) is None


def test_reply_text_above_the_separator_is_a_cut() -> None:
    assert _token("Thanks, done.\n" + OUTLOOK_QUOTE + TEMPLATE) is None
    banner_lower = "Hello team,\nCAUTION: external sender\n" + UNDERSCORES + "\n" + TEMPLATE
    assert _token(banner_lower) is None  # the banner must open the body


def test_own_token_above_a_quoted_older_mail_is_found_exactly() -> None:
    quoted = TEMPLATE.replace(TOKEN, OTHER)
    body = BANNERS[0] + "\n" + TEMPLATE + "\n" + OUTLOOK_QUOTE + quoted
    assert _token(body) == TOKEN
    result = _eval(_mail(body))
    assert isinstance(result, Finding) and result.token == TOKEN


# ---------------------------------------------------------------- properties

INVISIBLE_CHARS = st.sampled_from(list(INVISIBLE))
# One line of text that, even after NFKC, has no colon and does not start a quote.
NO_COLON_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=120
).filter(lambda t: not set(":>|") & set(unicodedata.normalize("NFKC", t)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(TOKEN)), INVISIBLE_CHARS), max_size=8))
def test_any_invisible_characters_anywhere_in_the_token_line(
    inserts: list[tuple[int, str]],
) -> None:
    hidden = TOKEN
    for where, char in sorted(inserts, reverse=True):
        hidden = hidden[:where] + char + hidden[where:]
    assert _token(f"Username: {DANA}\nSecurity token (case-sensitive): {hidden}\n") == TOKEN


@settings(max_examples=200, deadline=None)
@given(NO_COLON_TEXT, st.sampled_from(["_" * 32, "-" * 40, "=" * 20, "_" * 10]))
def test_any_one_line_caution_banner_keeps_the_token(text: str, rule: str) -> None:
    assert _token(f"CAUTION: {text}\n{rule}\n\n{TEMPLATE}") == TOKEN


@settings(max_examples=200, deadline=None)
@given(st.lists(NO_COLON_TEXT, max_size=5))
def test_anything_above_an_outlook_quote_header_block_never_unlocks_the_quote(
    lines: list[str],
) -> None:
    quoted = OUTLOOK_QUOTE.removeprefix(UNDERSCORES + "\n")
    assert _token("\n".join(lines) + "\n" + quoted + TEMPLATE) is None
    assert _token(BANNERS[0] + "\n".join(lines) + "\n" + quoted + TEMPLATE) is None
