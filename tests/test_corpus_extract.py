"""Each golden-corpus message on its own through parse -> trust -> extract."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from corpus_util import Expected, load_expected

from inbox_finder.engine import Rejection, evaluate
from inbox_finder.mail.parse import parse_message
from inbox_finder.model import Candidate, Finding
from inbox_finder.trust.policy import TrustPolicy

ENTRIES = load_expected()
WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _evaluate(entry: Expected) -> Finding | Rejection:
    return evaluate(entry.raw, Candidate("x", WHEN), "test:", TrustPolicy())


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.token], ids=lambda e: e.file)
def test_positive_yields_expected_values(entry: Expected) -> None:
    result = _evaluate(entry)
    assert isinstance(result, Finding), result
    assert result.token == entry.token
    assert result.username == entry.username
    assert result.language == entry.language
    assert result.template == entry.template
    assert result.message_id == entry.message_id
    assert result.sender.endswith("salesforce.com")


# Which stage must reject each kind of look-alike (the corpus names the kind).
REASONS = {
    "untrusted-sender": "untrusted sender domain",
    "dmarc-fail": "spoofed: dmarc=fail per mx.google.com",
    "quoted": r"untrusted sender domain|a reply",
    "verification-code": "no unambiguous token|subject does not name",
    "not-a-token-mail": "no unambiguous token|subject does not name",
    "bounce": "a bounce or delivery report",
}


@pytest.mark.parametrize("entry", [e for e in ENTRIES if not e.token], ids=lambda e: e.file)
def test_look_alike_is_rejected_for_the_right_reason(entry: Expected) -> None:
    result = _evaluate(entry)
    assert isinstance(result, Rejection)
    assert entry.reject is not None
    assert re.search(REASONS[entry.reject], result.reason), result.reason


CONTENT_REJECTS = [
    e for e in ENTRIES if not e.token and e.reject not in ("untrusted-sender", "dmarc-fail")
]


@pytest.mark.parametrize("entry", CONTENT_REJECTS, ids=lambda e: e.file)
def test_look_alike_rejected_even_from_a_trusted_domain(entry: Expected) -> None:
    """Trusting every sender shows the body/subject rules alone refuse quotes and look-alikes."""
    everyone = TrustPolicy(sender_domains=("com", "net", "org", "de"))
    result = evaluate(entry.raw, Candidate("x", WHEN), "test:", everyone)
    assert isinstance(result, Rejection), entry.file


def test_qp_soft_break_inside_token_is_joined() -> None:
    entry = next(e for e in ENTRIES if "qp_soft_break" in e.file)
    assert entry.token is not None
    assert entry.token not in entry.raw.decode("ascii")  # really split in the raw bytes
    assert isinstance(_evaluate(entry), Finding)


def test_html_split_token_is_read_whole() -> None:
    entry = next(e for e in ENTRIES if "html_only" in e.file)
    parsed = parse_message(entry.raw)
    assert [p.kind for p in parsed.parts] == ["html"]
    assert entry.token is not None and entry.token in parsed.parts[0].text
