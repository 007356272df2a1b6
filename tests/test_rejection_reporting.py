"""What a lookup says about the mail it turns down: the --verbose line per candidate token mail,
the debug line for other mail, and the one-line summary ordered by count, then by kind. Also
how extra trusted sender domains are normalised before they narrow a provider's search."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from inbox_finder.providers.memory import MemoryProvider, MemoryStore, register_store

from inbox_finder import find_tokens
from inbox_finder.boundary.provider import Query
from inbox_finder.boundary.registry import open_provider
from inbox_finder.engine import Selection, iter_findings, rejection_summary
from inbox_finder.mail.templates import subject_search_words
from inbox_finder.model import Candidate
from inbox_finder.testing.mail import (
    legacy_token_mail,
    new_token,
    other_mail,
    token_mail,
    verification_mail,
)
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


class Spy(MemoryProvider):
    """The memory provider, recording each query and each whole-message fetch."""

    def __init__(self, store: MemoryStore, name: str) -> None:
        super().__init__(store, name)
        self.queries: list[Query] = []
        self.fetched: list[str] = []

    def search(self, query: Query) -> Iterator[Candidate]:
        self.queries.append(query)
        return super().search(query)

    def fetch(self, candidate: Candidate) -> bytes:
        self.fetched.append(candidate.ref)
        return super().fetch(candidate)


def test_the_walk_screens_headers_before_fetching_and_passes_the_query_on(
    box: tuple[str, MemoryStore], caplog: pytest.LogCaptureFixture
) -> None:
    name, store = box
    caplog.set_level(logging.DEBUG, logger="inbox_finder.engine")
    lookalike = store.add(
        verification_mail(when=T0).replace(b"noreply@salesforce.com", b"x@salesforce.com.evil"),
        T0 + timedelta(hours=5),
    )
    reply = store.add(
        token_mail(new_token(), subject="RE: Your new Salesforce security token"),
        T0 + timedelta(hours=4),
    )
    chat = store.add(token_mail(new_token(), subject="RE: lunch"), T0 + timedelta(hours=3))
    bounce = store.add(
        token_mail(new_token(), sender="mailer-daemon@salesforce.com"), T0 + timedelta(hours=2)
    )
    ops = store.add(token_mail(new_token(), "ops@example.com"), T0 + timedelta(hours=1))
    gone = store.add(token_mail(new_token()), T0 + timedelta(minutes=30))
    token = new_token()
    dana = store.add(token_mail(token), T0)
    store.add(token_mail(new_token()), T0 - timedelta(days=2))  # before --since
    provider = Spy(store, name)
    real_fetch = MemoryProvider.fetch

    def vanishing(self: Spy, candidate: Candidate) -> bytes:
        if candidate.ref == gone:
            store.remove(gone)
        return real_fetch(self, candidate)

    MemoryProvider.fetch = vanishing  # type: ignore[method-assign]
    counts: Counter[str] = Counter()
    since = T0 - timedelta(days=1)
    try:
        found = list(
            iter_findings(
                provider, Selection("dana@example.com", since), TrustPolicy(), "memory:1:2", counts
            )
        )
    finally:
        MemoryProvider.fetch = real_fetch  # type: ignore[method-assign]
    assert [f.token for f in found] == [token]
    (only,) = found
    assert (only.subject, only.source, only.received_source) == (
        "Your new Salesforce security token",
        f"memory:{name}",
        "server",
    )
    assert only.trust == "sender domain salesforce.com" and only.received == T0
    words = subject_search_words()  # the engine's subject screen, as a superset filter
    assert provider.queries == [
        Query(since, ("salesforce.com",), "memory:1:2", subject_words=words)
    ]
    assert provider.fetched == [ops, gone, dana]  # header screening spared the others
    assert counts == Counter({"reply": 1, "for another username": 1})
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "inbox_finder.engine"]
    expected = [
        (logging.DEBUG, f"skip {lookalike} (headers): untrusted sender domain salesforce.com.evil"),
        (logging.INFO, f"rejected {reply} (headers): a reply"),
        (logging.DEBUG, f"skip {chat} (headers): a reply"),
        (logging.DEBUG, f"skip {bounce} (headers): a bounce or delivery report"),
        (logging.DEBUG, f"skip {ops}: another username"),
        (logging.INFO, f"skip {gone}: message {gone} is gone from memory:{name}"),
        (
            logging.INFO,
            f"token mail {dana} for dana@example.com received {T0.isoformat()} in the source (2 fetched so far)",
        ),
    ]
    for line in expected:
        assert line in lines, (line, lines)
    assert any(msg.startswith("bounce: sent by mailer-daemon") for _, msg in lines)


def test_a_huge_message_is_read_only_so_far(caplog: pytest.LogCaptureFixture) -> None:
    from inbox_finder.engine import MAX_MESSAGE_BYTES, evaluate
    from inbox_finder.model import Finding

    raw = token_mail("4jEAKuW3a4g33x2zsX11BkrsB") + b"x" * MAX_MESSAGE_BYTES
    caplog.set_level(logging.DEBUG, logger="inbox_finder.engine")
    result = evaluate(raw, Candidate("big", T0), "t:", TrustPolicy())
    assert isinstance(result, Finding) and result.token == "4jEAKuW3a4g33x2zsX11BkrsB"
    assert f"big is {len(raw)} bytes; reading the first {MAX_MESSAGE_BYTES}" in caplog.messages


class Unnarrowed(MemoryProvider):
    """A provider that ignores the sender narrowing (as a server search may): all mail comes."""

    def search(self, query: Query) -> Iterator[Candidate]:
        return super().search(Query(query.since, (), query.after_cursor))


def test_unrelated_newer_mail_is_skipped_not_the_end_of_the_walk(
    box: tuple[str, MemoryStore], caplog: pytest.LogCaptureFixture
) -> None:
    name, store = box
    caplog.set_level(logging.DEBUG, logger="inbox_finder.engine")
    news = store.add(other_mail(1, when=T0), T0 + timedelta(hours=3))
    store.add(token_mail(new_token(), "ops@example.com"), T0 + timedelta(hours=2))
    store.add(token_mail(new_token(), "ops@example.com"), T0 + timedelta(hours=1))
    token = new_token()
    store.add(token_mail(token), T0)
    counts: Counter[str] = Counter()
    selection = Selection("dana@example.com")
    found = list(iter_findings(Unnarrowed(store, name), selection, TrustPolicy(), None, counts))
    assert [f.token for f in found] == [token]
    assert counts == Counter({"for another username": 2})
    assert f"skip {news} (headers): From names no trusted domain" in caplog.messages


def test_the_receive_time_source_is_passed_on() -> None:
    from inbox_finder.engine import evaluate
    from inbox_finder.model import Finding

    raw = token_mail(new_token())
    result = evaluate(raw, Candidate("x", T0, "date-header"), "t:", TrustPolicy())
    assert isinstance(result, Finding) and result.received_source == "date-header"
