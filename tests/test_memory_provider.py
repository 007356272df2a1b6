"""``memory:NAME``, the reference provider: both shipped contracts and its own behaviour."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from inbox_finder.providers.memory import (
    MemoryProvider,
    MemoryStore,
    get_store,
    register_store,
    unregister_store,
)

from inbox_finder import ConfigError, find_token
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.errors import MessageVanishedError
from inbox_finder.model import Candidate
from inbox_finder.testing import ContractMailbox, Message, ProviderContract, ScanContract
from inbox_finder.testing.mail import new_token, other_mail, token_mail

_names = itertools.count()
T0 = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)


class MemoryMailbox(ContractMailbox):
    """A store registered under a fresh name, opened through its ``memory:`` URL."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.name = f"contract-{next(_names)}"
        self.store = register_store(self.name, MemoryStore(messages))

    def open(self) -> MemoryProvider:
        provider = open_provider(f"memory:{self.name}")
        assert isinstance(provider, MemoryProvider)
        return provider

    def source(self) -> str:
        return f"memory:{self.name}"

    def add(self, message: Message) -> None:
        self.store.add(*message)

    def recreate(self, messages: Sequence[Message]) -> None:
        self.store.recreate(messages)


class MemoryFixtures:
    supports_cursor = True
    supports_recreate = True

    @pytest.fixture
    def make_mailbox(self) -> Iterator[type[MemoryMailbox]]:
        made: list[MemoryMailbox] = []

        def make(messages: Sequence[Message]) -> MemoryMailbox:
            made.append(MemoryMailbox(messages))
            return made[-1]

        yield make  # type: ignore[misc]
        for box in made:
            unregister_store(box.name)


class TestMemoryContract(MemoryFixtures, ProviderContract):
    pass


class TestMemoryScanContract(MemoryFixtures, ScanContract):
    pass


@pytest.fixture
def named() -> Iterator[tuple[str, MemoryStore]]:
    """A registered store and its name (unregistered afterwards)."""
    name = f"unit-{next(_names)}"
    yield name, register_store(name)
    unregister_store(name)
    with pytest.raises(ConfigError):
        get_store(name)


@pytest.fixture
def store(named: tuple[str, MemoryStore]) -> MemoryStore:
    return named[1]


def test_find_token_and_the_cli_open_a_registered_store(
    named: tuple[str, MemoryStore], capsys: pytest.CaptureFixture[str]
) -> None:
    from inbox_finder.cli.main import main

    name, store = named
    token = new_token()
    store.add(other_mail(1, T0), T0)
    store.add(token_mail(token, when=T0 - timedelta(hours=1)), T0 - timedelta(hours=1))
    url = f"memory:{name}"
    assert find_token(url).token == token
    assert find_token(url.replace(":", "://", 1)).token == token
    assert main(["find", url, "-q"]) == 0
    assert capsys.readouterr().out.strip() == token


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory:", "expected memory:NAME"),
        ("memory://", "expected memory:NAME"),
        ("memory:a/b", "expected memory:NAME"),
        ("memory:never-registered", "no memory store named 'never-registered'"),
    ],
)
def test_bad_memory_sources_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_provider(url)


def test_unknown_store_error_names_the_registered_ones(named: tuple[str, MemoryStore]) -> None:
    with pytest.raises(ConfigError, match=named[0]):
        MemoryProvider.from_url("memory:nosuch", SourceOptions())


def test_removed_message_vanishes_and_the_engine_skips_it(store: MemoryStore) -> None:
    older, newer = new_token(), new_token()
    store.add(token_mail(older, when=T0 - timedelta(days=1)), T0 - timedelta(days=1))
    ref = store.add(token_mail(newer, when=T0), T0)
    provider = MemoryProvider(store, "x")
    [first, _] = provider.search(Query())
    assert first.ref == ref
    store.remove(ref)
    with pytest.raises(MessageVanishedError):
        provider.fetch(first)
    with pytest.raises(MessageVanishedError):
        provider.fetch(Candidate("never-there", T0))
    assert find_token(provider).token == older


def test_naive_receive_time_is_refused(store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add(other_mail(1), datetime(2024, 1, 1))


def test_search_narrows_by_sender_and_since_on_the_raw_from_header(store: MemoryStore) -> None:
    store.add(other_mail(1, T0), T0)
    ref = store.add(token_mail(new_token(), when=T0), T0 - timedelta(hours=2))
    store.add(token_mail(new_token()), T0 - timedelta(days=9))
    provider = MemoryProvider(store, "x")
    since = T0 - timedelta(days=1)
    assert [c.ref for c in provider.search(Query(since=since))] == [ref]
    assert len(list(provider.search(Query(sender_domains=())))) == 3
    headers = provider.fetch_headers(next(iter(provider.search(Query()))))
    assert headers is not None and headers.endswith(b"\n\n") and b"Security token" not in headers


def test_wait_for_change_wakes_on_delivery_and_honours_stop(store: MemoryStore) -> None:
    provider = MemoryProvider(store, "x")
    stop = threading.Event()
    timer = threading.Timer(0.3, lambda: store.add(other_mail(1, T0), T0))
    timer.start()
    started = time.monotonic()
    assert provider.wait_for_change(10, stop) is True
    assert time.monotonic() - started < 5
    assert provider.wait_for_change(0.3, stop) is False  # nothing new since
    stop.set()
    started = time.monotonic()
    assert provider.wait_for_change(10, stop) is False
    assert time.monotonic() - started < 1
