"""Hypothesis on the whole pipeline (``evaluate``): real token mails from trusted, look-alike and
random senders, mangled in ways that must not matter, that may break the mail, or that mark it
spoofed. Each example knows what it must give; every run also checks that Findings did occur
(a property whose trust assertions never run proves nothing).

The oracle: a look-alike or random sender, a second From address, or a ``dmarc=fail`` in the
topmost Authentication-Results of a trusted receiving server is always a Rejection; a trusted
sender with harmless changes is always a Finding; and any Finding carries exactly the token,
username and sender that were put in.
"""

from __future__ import annotations

import base64
import quopri
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import event, given, settings
from hypothesis import strategies as st

from inbox_finder.engine import Rejection, evaluate
from inbox_finder.model import Candidate, Finding
from inbox_finder.trust.policy import TrustPolicy

TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"
DANA = "dana@example.com"
WHEN = datetime(2024, 1, 1, tzinfo=UTC)
SUBJECT = "Your new Salesforce security token"
TRUSTED = [
    "support@salesforce.com",
    "noreply@salesforce.com",
    "support@mail.salesforce.com",
    "Support@SalesForce.COM",
]
LOOKALIKE_DOMAINS = [
    "salesforce.com.evil.net",
    "salesforce.com.br",
    "evilsalesforce.com",
    "salesforce-com.net",
    "salesforcecom.net",
    "salesforce.co",
    "sales-force.com",
    "saIesforce.com",  # capital I for l
    "sa1esforce.com",
    "xn--slesforce-51a.com",
    "ѕalesforce.com",  # Cyrillic dze for s
    "salesforce.cοm",  # Greek omicron for o
    "notsalesforce.com",
]
# From values that name a trusted address without being one (the real address is elsewhere).
DISGUISES = [
    '"support@salesforce.com" <attacker@evil.example>',
    "attacker@evil.example (support@salesforce.com)",
    "Salesforce <support@salesforce.com.evil.example>",
    "support@salesforce.com@evil.example",
]
SECOND_ADDRESS = "Salesforce <{addr}>, attacker@evil.example"

# Header mangles: (kind, header line). Harmless ones must not change the outcome.
HARMLESS_HEADERS = [
    "X-Mailer: Salesforce Mailer",
    "Received: from mx.salesforce.com by mx.example.com; Mon, 1 Jan 2024 00:00:00 +0000",
    "Authentication-Results: mx.google.com; dkim=pass header.d=salesforce.com; dmarc=pass",
    "Authentication-Results: relay.evil.example; dmarc=fail",  # not a trusted authserv-id
    "X-Spam-Status: No",
]
SPOOFED_HEADERS = [
    "Authentication-Results: mx.google.com; dmarc=fail header.from=salesforce.com",
    "Authentication-Results: mx.google.com; dkim=fail header.d=salesforce.com",
    "Authentication-Results: eur01.prod.protection.outlook.com; spf=fail smtp.mailfrom=salesforce.com",
]
BODY = "Username: {user}\nSecurity token (case-sensitive): {token}\n"
HTML = (
    "<html><body><p>Username:&nbsp;<span>{user}</span></p>"
    "<p>Security token (case-sensitive): <b>{head}</b><span>{tail}</span></p></body></html>"
)


@dataclass(frozen=True)
class Case:
    """One generated mail and what it must give: "finding", "rejection" or "either"."""

    raw: bytes
    expect: str
    kind: str
    sender: str | None  # the trusted address put in, lower-cased (None if none)


def _encode(body: str, encoding: str) -> tuple[str, bytes]:
    data = body.encode()
    if encoding == "base64":
        return "base64", base64.encodebytes(data)
    if encoding == "quoted-printable":
        return "quoted-printable", quopri.encodestring(data)
    return "8bit", data


def build(from_value: str, headers: list[str], subtype: str, encoding: str, junk: bytes) -> bytes:
    body = BODY if subtype == "plain" else HTML
    text = body.format(user=DANA, token=TOKEN, head=TOKEN[:9], tail=TOKEN[9:])
    cte, payload = _encode("We've sent you a new Salesforce security token.\n\n" + text, encoding)
    lines = [
        *headers,
        f"From: {from_value}",
        f"To: {DANA}",
        f"Subject: {SUBJECT}",
        "Date: Mon, 01 Jan 2024 00:00:00 +0000",
        "Message-ID: <p@salesforce.com>",
        "MIME-Version: 1.0",
        f"Content-Type: text/{subtype}; charset=utf-8",
        f"Content-Transfer-Encoding: {cte}",
    ]
    return "\n".join(lines).encode() + b"\n\n" + junk + payload


def _outcome(headers: list[str]) -> str:
    """The topmost header from a trusted receiving server decides (harmless ones pass)."""
    for line in headers:
        if line in SPOOFED_HEADERS:
            return "rejection"
        if line.startswith("Authentication-Results: mx.google.com"):
            return "finding"
    return "finding"


def _trusted(draw: st.DrawFn, headers: list[str], *, harmless: bool) -> Case:
    address = draw(st.sampled_from(TRUSTED))
    subtype = draw(st.sampled_from(["plain", "html"]))
    encoding = draw(st.sampled_from(["8bit", "base64", "quoted-printable"]))
    if harmless:
        raw = build(f"Salesforce <{address}>", headers, subtype, encoding, b"")
        return Case(raw, "finding", "trusted", address.lower())
    junk = draw(st.sampled_from([b"", b"\x00\xff\xfe\n", b"=\n", b"<div><span>\n"]))
    second = draw(st.booleans())
    from_value = SECOND_ADDRESS.format(addr=address) if second else f"Salesforce <{address}>"
    expect = "rejection" if second else _outcome(headers)
    if expect == "finding" and junk and encoding != "8bit":
        expect = "either"  # junk before an encoded body may break its decoding
    raw = build(from_value, headers, subtype, encoding, junk)
    return Case(raw, expect, "second address" if second else "mangled", address.lower())


def _untrusted(draw: st.DrawFn, headers: list[str], kind: str) -> Case:
    if kind == "lookalike":
        local = draw(st.sampled_from(["support", "noreply", "security"]))
        from_value = f"Salesforce <{local}@{draw(st.sampled_from(LOOKALIKE_DOMAINS))}>"
    elif kind == "disguise":
        from_value = draw(st.sampled_from(DISGUISES))
    else:
        from_value = f"<{draw(st.emails().filter(lambda a: not _is_salesforce(a)))}>"
    subtype = draw(st.sampled_from(["plain", "html"]))
    return Case(build(from_value, headers, subtype, "8bit", b""), "rejection", kind, None)


@st.composite
def batches(draw: st.DrawFn) -> list[Case]:
    """Every example holds one mail of each kind, so each kind's share is fixed."""
    harmless = st.lists(st.sampled_from(HARMLESS_HEADERS), max_size=3)
    anything = st.lists(st.sampled_from(HARMLESS_HEADERS + SPOOFED_HEADERS), max_size=3)
    other = draw(st.sampled_from(["disguise", "random"]))
    return [
        _trusted(draw, draw(harmless), harmless=True),
        _trusted(draw, draw(anything), harmless=False),
        _untrusted(draw, draw(anything), "lookalike"),
        _untrusted(draw, draw(anything), other),
    ]


def _is_salesforce(address: str) -> bool:
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return domain == "salesforce.com" or domain.endswith(".salesforce.com")


def _evaluate(raw: bytes) -> Finding | Rejection:
    return evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())


def test_mangled_token_mails_from_any_sender_keep_the_trust_rules() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=150, deadline=None)
    @given(batches())
    def check(batch: list[Case]) -> None:
        seen["examples"] += 1
        for case in batch:
            result = _evaluate(case.raw)
            outcome = "finding" if isinstance(result, Finding) else "rejection"
            event(f"{case.kind}: {outcome}")
            seen[case.kind] += 1
            seen[f"{case.kind}: {outcome}"] += 1
            if case.expect != "either":
                assert outcome == case.expect, (case.kind, case.raw, result)
            if isinstance(result, Finding):
                assert case.sender is not None and result.sender == case.sender
                assert (result.token, result.username) == (TOKEN, DANA)

    check()
    # Findings really occurred, so the assertions on them ran: one per example at least.
    assert seen["trusted: finding"] == seen["examples"] >= 100, seen
    assert seen["mangled: finding"] > 0 and seen["second address"] > 0, seen
    assert seen["lookalike: rejection"] == seen["examples"], seen
    assert seen["disguise"] > 0 and seen["random"] > 0, seen


LOOKALIKE_ADDRESSES = st.one_of(
    st.emails(),
    st.builds(
        "{}@{}".format,
        st.sampled_from(["support", "noreply", "x"]),
        st.one_of(
            st.sampled_from(LOOKALIKE_DOMAINS),
            st.builds(
                "salesforce.com.{}".format,
                st.from_regex(r"[a-z]{2,10}\.[a-z]{2,4}", fullmatch=True),
            ),
            st.builds("{}salesforce.com".format, st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True)),
            st.builds("salesforce.{}".format, st.sampled_from(["co", "net", "org", "io", "cm"])),
        ),
    ),
).filter(lambda a: not _is_salesforce(a))
NOISE = st.text(alphabet=st.characters(categories=("L", "N", "Zs")), max_size=200)


@settings(max_examples=200, deadline=None)
@given(LOOKALIKE_ADDRESSES, NOISE)
def test_any_non_salesforce_sender_never_yields(sender: str, noise: str) -> None:
    event("look-alike domain" if "salesforce" in sender.lower() else "other domain")
    body = f"{noise}\nUsername: {DANA}\nSecurity token (case-sensitive): {TOKEN}\n"
    raw = build(f"<{sender}>", [], "plain", "8bit", b"")
    raw = raw.replace(raw.partition(b"\n\n")[2], body.encode())
    assert isinstance(_evaluate(raw), Rejection)
    # The control: the very same mail from Salesforce yields, so the sender alone decided.
    genuine = _evaluate(raw.replace(f"From: <{sender}>".encode(), b"From: support@salesforce.com"))
    assert isinstance(genuine, Finding) and genuine.token == TOKEN
