"""Old home of the provider contract; kept so test modules written against it still run.

``ProviderContract`` here takes the old fixtures: ``source`` (a URL, or a Provider, already
holding the golden corpus) and optionally ``find_kwargs``. New tests subclass
``inbox_finder.testing.ProviderContract`` with a ``make_mailbox`` fixture instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from corpus_util import GoldenCorpus

from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.model import Candidate
from inbox_finder.testing import ContractMailbox, MailboxFactory, Message
from inbox_finder.testing import ProviderContract as _ShippedContract


class _Borrowed(Provider):
    """A provider the fixture owns: the contract may "close" it, it stays open."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> _Borrowed:
        raise NotImplementedError

    def search(self, query: Query) -> Iterator[Candidate]:
        return self.inner.search(query)

    def fetch(self, candidate: Candidate) -> bytes:
        return self.inner.fetch(candidate)

    def fetch_headers(self, candidate: Candidate) -> bytes | None:
        return self.inner.fetch_headers(candidate)

    @property
    def source(self) -> str:
        return self.inner.source


class _GivenSource(ContractMailbox):
    def __init__(self, source: str | Provider, find_kwargs: dict[str, Any]) -> None:
        self.given, self.kwargs = source, find_kwargs

    def open(self) -> Provider:
        if isinstance(self.given, Provider):
            return _Borrowed(self.given)
        return open_provider(self.given, SourceOptions(ca_file=self.kwargs.get("ca_file")))

    def source(self) -> str | Provider:
        return self.given if isinstance(self.given, str) else _Borrowed(self.given)

    def find_kwargs(self) -> dict[str, Any]:
        return self.kwargs


class ProviderContract(GoldenCorpus, _ShippedContract):
    """The shipped contract on a ready-made ``source`` holding the golden corpus."""

    @pytest.fixture
    def find_kwargs(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def make_mailbox(self, source: str | Provider, find_kwargs: dict[str, Any]) -> MailboxFactory:
        def make(messages: Sequence[Message]) -> ContractMailbox:
            if not messages:
                pytest.skip("a ready-made source cannot be emptied")
            return _GivenSource(source, find_kwargs)

        return make
