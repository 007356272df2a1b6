"""The trust policy on its own: sender domains and Authentication-Results."""

from __future__ import annotations

import pytest

from inbox_finder.mail.parse import Headers
from inbox_finder.trust.policy import TrustPolicy, domain_matches, judge, parse_auth_results

GOOD_FROM = "Salesforce <support@salesforce.com>"


@pytest.mark.parametrize(
    ("domain", "ok"),
    [
        ("salesforce.com", True),
        ("emea.salesforce.com", True),
        ("SALESFORCE.COM.", True),
        ("salesforce.com.evil.net", False),
        ("evilsalesforce.com", False),
        ("salesforce.co", False),
        ("xn--salesforce.com", False),
    ],
)
def test_domain_matches_exact_labels(domain: str, ok: bool) -> None:
    assert domain_matches(domain, "salesforce.com") is ok


@pytest.mark.parametrize(
    ("from_raw", "trusted"),
    [
        (GOOD_FROM, True),
        ("support@emea.salesforce.com", True),
        ('"support@salesforce.com" <help@salesforce.com.evil.net>', False),
        ("support@salesforce.com.evil.net", False),
        ("a@salesforce.com, b@evil.net", False),
        ("", False),
        ("not an address", False),
    ],
)
def test_sender_domain(from_raw: str, trusted: bool) -> None:
    assert judge(Headers(from_raw=from_raw)).trusted is trusted


def test_user_added_domain() -> None:
    policy = TrustPolicy().with_extra_domains(["relay.example.com"])
    assert judge(Headers(from_raw="noreply@relay.example.com"), policy).trusted
    assert not judge(Headers(from_raw="noreply@example.com"), policy).trusted


def _judge(*auth: str, policy: TrustPolicy | None = None) -> tuple[bool, str]:
    verdict = judge(Headers(from_raw=GOOD_FROM, auth_results=auth), policy)
    return verdict.trusted, verdict.reason


@pytest.mark.parametrize(
    ("header", "trusted"),
    [
        (
            "mx.google.com; dkim=pass header.i=@salesforce.com; dmarc=pass header.from=salesforce.com",
            True,
        ),
        (
            "mx.google.com; dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=salesforce.com",
            False,
        ),
        ("mx.google.com; dkim=fail (bad signature) header.d=salesforce.com", False),
        ("mx.google.com; dkim=fail header.i=@emea.salesforce.com", False),
        ("mx.google.com; dkim=fail header.d=other.org; dkim=pass header.d=salesforce.com", True),
        (
            "mx.google.com; spf=fail (google.com: domain of x does not designate) smtp.mailfrom=bounce@salesforce.com",
            False,
        ),
        ("mx.google.com; spf=fail smtp.mailfrom=bounce@mailer.net", True),
        ("mx.google.com; spf=softfail smtp.mailfrom=salesforce.com", True),
        (
            "AM0PR01.eurprd01.prod.protection.outlook.com; dmarc=fail action=none header.from=salesforce.com",
            False,
        ),
        ("mx.example.net; dmarc=fail header.from=salesforce.com", True),  # untrusted authserv-id
    ],
)
def test_authentication_results(header: str, trusted: bool) -> None:
    assert _judge(header)[0] is trusted


def test_topmost_trusted_header_decides_and_forged_ones_below_are_ignored() -> None:
    real = "mx.google.com; dmarc=fail header.from=salesforce.com"
    forged = "mx.google.com; dkim=pass header.d=salesforce.com; dmarc=pass"
    assert _judge(real, forged) == (False, "spoofed: dmarc=fail per mx.google.com")
    trusted, reason = _judge(forged, real)
    assert trusted and "mx.google.com" in reason


def test_untrusted_headers_above_are_skipped() -> None:
    internal = "relay.corp.example; dmarc=fail"
    real = "mx.google.com; dmarc=pass header.from=salesforce.com"
    assert _judge(internal, real)[0]


def test_configured_authserv_ids_replace_defaults() -> None:
    policy = TrustPolicy(authserv_ids=("mail.example.com",))
    assert not _judge("mail.example.com; dmarc=fail", policy=policy)[0]
    assert _judge("mx.google.com; dmarc=fail", policy=policy)[0]


def test_parse_auth_results_strips_comments_and_versions() -> None:
    serv, results = parse_auth_results(
        "mx.google.com 1; dkim/1=pass (2048-bit (nested) key) header.d=Salesforce.com; none"
    )
    assert serv == "mx.google.com"
    assert [(r.method, r.result, r.props) for r in results] == [
        ("dkim", "pass", {"header.d": "salesforce.com"})
    ]


@pytest.mark.parametrize(
    ("block", "mentions"),
    [
        (b"Subject: x\r\nFrom: Salesforce <support@salesforce.com>\r\n\r\n", True),
        (b"FROM : support@EMEA.Salesforce.com\n\n", True),
        (b"From: =?utf-8?q?Salesforce?=\n <support@salesforce.com>\n\n", True),
        (b"From: news@example.org\nReply-To: support@salesforce.com\n\n", False),
        (b"Subject: no from\n\n", False),
        (b"From:\tsupport@salesforce.com\n\n", True),
        (b"From: Salesforce Customer Support\r\n <support@salesforce.com>\r\n\r\n", True),
        (b"From: a@example.org\nFrom: support@salesforce.com\n\n", True),
        (b"X-From: support@salesforce.com\nFrom: a@example.org\n\n", False),
    ],
)
def test_from_header_byte_test(block: bytes, mentions: bool) -> None:
    from inbox_finder.mail.headers import from_header_mentions

    assert from_header_mentions(block, ("salesforce.com",)) is mentions
