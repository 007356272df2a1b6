"""The third party's own tests: the shipped contracts, subclassed as the README shows."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from acme_mail import AcmeProvider

from inbox_finder import Provider, register_provider
from inbox_finder.boundary.registry import available_schemes, provider_class
from inbox_finder.testing import (
    ContractMailbox,
    MailboxFactory,
    Message,
    ProviderContract,
    ScanContract,
)

register_provider("acme-rt", AcmeProvider)  # a second scheme, registered at run time
_serial = itertools.count()


class AcmeMailbox(ContractMailbox):
    def __init__(self, scheme: str, path: Path, messages: Sequence[Message]) -> None:
        self.scheme, self.path = scheme, path
        self.recreate(messages)

    def source(self) -> str:
        return f"{self.scheme}:{self.path}"  # through the registry, like a user's source

    def open(self) -> Provider:
        from inbox_finder import open_provider

        return open_provider(self.source())

    def add(self, message: Message) -> None:
        name = f"{int(message.received.timestamp())}-{next(_serial)}.msg"
        (self.path / name).write_bytes(message.raw)

    def recreate(self, messages: Sequence[Message]) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        for message in messages:
            self.add(message)


class AcmeFixtures:
    scheme = "acmedir"
    supports_cursor = True
    supports_recreate = True

    @pytest.fixture
    def make_mailbox(self, tmp_path: Path) -> MailboxFactory:
        boxes = (tmp_path / f"box{n}" for n in itertools.count())
        return lambda messages: AcmeMailbox(self.scheme, next(boxes), messages)


class TestAcmeContract(AcmeFixtures, ProviderContract):
    pass


class TestAcmeScans(AcmeFixtures, ScanContract):
    pass


class TestAcmeRegisteredContract(AcmeFixtures, ProviderContract):
    scheme = "acme-rt"


class TestAcmeRegisteredScans(AcmeFixtures, ScanContract):
    scheme = "acme-rt"


def test_both_schemes_resolve_to_the_package_class() -> None:
    assert available_schemes()["acmedir"] == "acme_mail:AcmeProvider"  # the entry point
    assert provider_class("acmedir") is AcmeProvider
    assert provider_class("acme-rt") is AcmeProvider
