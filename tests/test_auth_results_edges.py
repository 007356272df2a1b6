"""Edges of the trust policy that mutation testing found unguarded: Authentication-Results
parsing (empty values, clauses without a result, quoted properties, comments that hide text),
trailing dots in domains, and the --verify-dkim rejection's reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox_finder.engine import Rejection, evaluate
from inbox_finder.mail.parse import Headers
from inbox_finder.model import Candidate
from inbox_finder.testing.mail import token_mail
from inbox_finder.trust.policy import TrustPolicy, domain_matches, judge

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
FROM = "Salesforce <support@salesforce.com>"


def trusted(*auth_results: str) -> bool:
    return judge(Headers(from_raw=FROM, auth_results=auth_results)).trusted


@pytest.mark.parametrize("value", ["", " ", "; dmarc=fail", "mx.google.com"])
def test_odd_headers_are_read_without_error(value: str) -> None:
    assert trusted(value)  # no verdict from a trusted server in them: the sender domain decides


def test_a_clause_without_a_result_does_not_end_the_header() -> None:
    assert not trusted("mx.google.com; x; dmarc=fail")
    assert not trusted("mx.google.com; none; spf=fail smtp.mailfrom=salesforce.com")


def test_quoted_properties_are_unquoted() -> None:
    assert not trusted('mx.google.com; dkim=fail header.d="salesforce.com"')
    assert not trusted('mx.google.com; spf=fail smtp.mailfrom="bounce@salesforce.com"')
    assert trusted('mx.google.com; dkim=fail header.d="other.example"')  # not aligned


def test_text_inside_nested_comments_is_no_result() -> None:
    assert trusted("mx.google.com; spf=pass (checked (twice) ; dmarc=fail )")
    assert not trusted("mx.google.com (a (b) c); dmarc=fail")


def test_trailing_dots_are_ignored_on_both_sides() -> None:
    assert domain_matches("salesforce.com", "salesforce.com.")
    assert domain_matches("a.salesforce.com.", "salesforce.com")
    assert domain_matches("salesforce.com.", ".salesforce.com.") is False
    policy = TrustPolicy(sender_domains=("salesforce.com.",))
    assert judge(Headers(from_raw=FROM), policy).trusted


def test_verify_dkim_rejection_names_the_reason() -> None:
    policy = TrustPolicy(verify_dkim=True, dkim_dns=lambda *args, **kwargs: None)
    result = evaluate(token_mail("4jEAKuW3a4g33x2zsX11BkrsB"), Candidate("x", WHEN), "t:", policy)
    assert isinstance(result, Rejection)
    assert result.reason.startswith("--verify-dkim: ") and len(result.reason) > 15
    assert result.label == "no valid DKIM signature (--verify-dkim)"


def test_a_header_from_an_untrusted_server_is_skipped_not_the_end() -> None:
    assert not trusted("relay.evil.example; dmarc=pass", "mx.google.com; dmarc=fail")
    assert trusted("relay.evil.example; dmarc=fail", "mx.google.com; dmarc=pass")


def test_failures_without_the_property_that_names_the_domain() -> None:
    assert trusted("mx.google.com; dkim=fail")  # no signer named: not aligned, not spoofed
    assert trusted("mx.google.com; spf=fail")


def test_verdicts_say_why() -> None:
    def verdict(from_raw: str, *auth: str) -> tuple[bool, str, str, str]:
        v = judge(Headers(from_raw=from_raw, auth_results=auth))
        return v.trusted, v.reason, v.sender, v.label

    assert verdict("a@x.example, b@y.example") == (
        False,
        "no single From address",
        "",
        "no single From address",
    )
    assert verdict("Eve <eve@evil.example>") == (
        False,
        "untrusted sender domain evil.example",
        "eve@evil.example",
        "untrusted sender domain",
    )
    assert verdict(FROM, "mx.google.com; dkim=fail header.d=salesforce.com") == (
        False,
        "spoofed: dkim=fail for salesforce.com per mx.google.com",
        "support@salesforce.com",
        "spoofed sender (DKIM fail)",
    )
    assert verdict(FROM, "mx.google.com; spf=pass; dmarc=pass; dmarc=bestguesspass") == (
        True,
        "authentication-results mx.google.com: dmarc=pass,dmarc=bestguesspass",
        "support@salesforce.com",
        "",
    )
    assert verdict(FROM, "mx.google.com; spf=pass") == (
        True,
        "authentication-results mx.google.com: no fail",
        "support@salesforce.com",
        "",
    )
    assert verdict(FROM) == (True, "sender domain salesforce.com", "support@salesforce.com", "")


def test_a_comment_before_the_authserv_id_or_a_result_is_dropped() -> None:
    assert not trusted("(received by) mx.google.com; dmarc=fail")
    assert not trusted("mx.google.com; (policy) dmarc=fail")
