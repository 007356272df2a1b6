"""The token's length bounds, exactly: 20 and 30 characters are tokens, 19 and 31 are not,
and a run of 31 or more characters is never cut down to a 20-30 character piece.

Every extraction rule is checked at each bound: the English template (token on the label's line
or alone on the next line, with and without a closing full stop), the Japanese template, the
structural rule for a language outside the table, and the whole pipeline on an HTML mail.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from inbox_finder.engine import evaluate
from inbox_finder.mail.extract import extract
from inbox_finder.mail.parse import Headers, ParsedMessage, TextPart
from inbox_finder.model import Candidate, Finding
from inbox_finder.testing.mail import html_token_mail, token_mail
from inbox_finder.trust.policy import TrustPolicy

DANA = "dana@example.com"
SUBJECT = "Your new Salesforce security token"
WHEN = datetime(2024, 1, 1, tzinfo=UTC)
# Mixed case and digits, no repeats in a window: a cut piece would differ from every bound.
ALPHABET = string.ascii_letters + string.digits


def run(length: int) -> str:
    """A deterministic token-shaped run of ``length`` characters."""
    return "".join(ALPHABET[(7 * i + 3) % len(ALPHABET)] for i in range(length))


def _extract(body: str, subject: str = SUBJECT) -> str | None:
    found = extract(ParsedMessage(Headers(subject=subject), (TextPart("plain", body),)))
    return found.token if found else None


def same_line(value: str) -> str | None:
    return _extract(f"Username: {DANA}\nSecurity token (case-sensitive): {value}\n")


def same_line_full_stop(value: str) -> str | None:
    return _extract(f"Username: {DANA}\nSecurity token (case-sensitive): {value}.\n")


def next_line(value: str) -> str | None:
    return _extract(f"Username: {DANA}\nSecurity token (case-sensitive):\n{value}\n")


def next_line_full_stop(value: str) -> str | None:
    return _extract(f"Username: {DANA}\nSecurity token (case-sensitive):\n{value}.\n")


def japanese(value: str) -> str | None:
    body = f"ユーザ名: {DANA}\nセキュリティトークン (大文字と小文字を区別): {value}。\n"
    return _extract(body, "新しいセキュリティトークン")


def structural(value: str) -> str | None:
    # Czech is not in the template table: only the structural rule reads it.
    body = f"Uživatelské jméno: {DANA}\nToken zabezpečení: {value}\n"
    return _extract(body, "Váš nový token zabezpečení Salesforce")


def pipeline_text(value: str) -> str | None:
    result = evaluate(token_mail(value, DANA, WHEN), Candidate("x", WHEN), "t:", TrustPolicy())
    return result.token if isinstance(result, Finding) else None


def pipeline_html(value: str) -> str | None:
    raw = html_token_mail(value, DANA, WHEN)
    result = evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())
    return result.token if isinstance(result, Finding) else None


RULES: dict[str, Callable[[str], str | None]] = {
    "same line": same_line,
    "same line, full stop": same_line_full_stop,
    "next line": next_line,
    "next line, full stop": next_line_full_stop,
    "japanese": japanese,
    "structural": structural,
    "pipeline, text": pipeline_text,
    "pipeline, html": pipeline_html,
}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("length", [20, 21, 25, 29, 30])
def test_20_to_30_characters_is_the_token(rule: str, length: int) -> None:
    value = run(length)
    assert RULES[rule](value) == value


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("length", [1, 10, 18, 19])
def test_fewer_than_20_characters_is_no_token(rule: str, length: int) -> None:
    assert RULES[rule](run(length)) is None


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("length", [31, 32, 33, 34, 35, 36, 40, 45, 50, 60])
def test_a_longer_run_is_never_cut_down(rule: str, length: int) -> None:
    assert RULES[rule](run(length)) is None


@pytest.mark.parametrize("length", [31, 32, 33, 34, 35])
def test_no_piece_of_a_longer_run_comes_out_even_beside_the_real_token(length: int) -> None:
    """A longer run on one line does not turn into a second, cut token (ambiguity) either."""
    token = run(25)
    body = (
        f"Username: {DANA}\nSecurity token (case-sensitive): {token}\n"
        f"Username: {DANA}\nSecurity token (case-sensitive): {run(length)}\n"
    )
    assert _extract(body) == token


def test_the_bounds_are_the_documented_ones() -> None:
    """The edge lengths side by side: 19 no, 20 yes, 30 yes, 31 no, on the template's line."""
    found = {n: same_line(run(n)) is not None for n in (19, 20, 30, 31)}
    assert found == {19: False, 20: True, 30: True, 31: False}
