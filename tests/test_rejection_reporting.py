"""What a lookup says about the mail it turns down: the --verbose line per candidate token mail,
the debug line for other mail, and the one-line summary ordered by count, then by kind. Also
how extra trusted sender domains are normalised before they narrow a provider's search."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from inbox_finder.providers.memory import MemoryStore, register_store

from inbox_finder import find_tokens
from inbox_finder.boundary.registry import open_provider
from inbox_finder.engine import iter_findings, rejection_summary
from inbox_finder.testing.mail import legacy_token_mail, new_token, token_mail, verification_mail
from inbox_finder.trust.policy import TrustPolicy

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def box() -> Iterator[tuple[str, MemoryStore]]:
    name = f"reporting-{id(object())}"
    yield name, register_store(name, MemoryStore())


def test_summary_orders_by_count_then_kind() -> None:
    counts = Counter({"reply": 1, "spoofed sender (DMARC fail)": 2, "another": 2, "b": 3})
    assert rejection_summary(counts) == (
        "8 candidate mails rejected: 3 b, 2 another, 2 spoofed sender (DMARC fail), 1 reply"
    )
    assert rejection_summary(Counter({"reply": 1})) == "1 candidate mail rejected: 1 reply"
    assert rejection_summary(Counter()) == ""


def test_verbose_names_each_rejected_token_mail_and_debug_the_rest(
    box: tuple[str, MemoryStore], caplog: pytest.LogCaptureFixture
) -> None:
    name, store = box
    spoof = store.add(token_mail(new_token(), sender="support@salesforce.com.evil.net"), T0)
    quiet = store.add(verification_mail(when=T0), T0 - timedelta(hours=1))
    both = two_tokens()
    twice = store.add(both, T0 - timedelta(hours=2))
    good = store.add(token_mail(new_token()), T0 - timedelta(hours=3))
    caplog.set_level(logging.DEBUG, logger="inbox_finder.engine")
    counts: Counter[str] = Counter()
    with open_provider(f"memory:{name}") as provider:
        found = list(iter_findings(provider, policy=TrustPolicy(), rejected=counts))
    assert [f.username for f in found] == ["dana@example.com"]
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "inbox_finder.engine"]
    assert (
        logging.INFO,
        f"rejected {spoof} (headers): untrusted sender domain salesforce.com.evil.net",
    ) in lines
    assert (
        logging.DEBUG,
        f"skip {quiet} (headers): subject does not name a security token",
    ) in lines
    assert (
        logging.INFO,
        f"rejected {twice}: no unambiguous token in the body: ambiguous (two tokens)",
    ) in lines
    assert any(msg.startswith(f"token mail {good} for dana@example.com") for _, msg in lines)
    assert counts == Counter({"untrusted sender domain": 1, "ambiguous (two tokens)": 1})


def two_tokens() -> bytes:
    raw = token_mail(new_token())
    return raw + f"\nUsername: dana@example.com\nSecurity token: {new_token()}\n".encode()


def test_extra_sender_domains_are_normalised() -> None:
    policy = TrustPolicy().with_extra_domains([" Example.COM. ", "", "  ", "mail.Example.org"])
    assert policy.sender_domains == ("salesforce.com", "example.com", "mail.example.org")
    assert TrustPolicy().with_extra_domains(["salesforce.com."]).sender_domains == (
        "salesforce.com",
    )


def test_legacy_mail_without_username_never_matches_a_wanted_username(
    box: tuple[str, MemoryStore],
) -> None:
    name, store = box
    store.add(legacy_token_mail(new_token()), T0)
    with open_provider(f"memory:{name}") as provider:
        assert [f.username for f in find_tokens(provider)] == [None]
        assert find_tokens(provider, username="xxxx") == []
