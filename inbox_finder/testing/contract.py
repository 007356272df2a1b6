"""The provider contract: what every provider, filled with the same mails, must answer.

A provider's test module subclasses ``ProviderContract`` and supplies one fixture,
``make_mailbox``: a callable that builds a mailbox of its kind holding the given messages
(raw bytes + receive time) and returns a ``ContractMailbox``. Capability flags (class
attributes, see ``ContractBase``) switch on the checks a provider can support; tests needing
a capability the subclass does not declare are skipped with the reason. Override the
``contract_mails`` fixture to run the same checks on another set of mails (a golden corpus).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest

from inbox_finder.api import find_token, find_tokens
from inbox_finder.boundary.provider import Provider, Query
from inbox_finder.errors import NotFoundError
from inbox_finder.mail.headers import header_block
from inbox_finder.model import Finding
from inbox_finder.testing.cases import (
    ContractMail,
    ContractMailbox,
    MailboxFactory,
    positives,
    standard_mails,
)

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class ContractBase:
    """Fixtures and capability flags shared by ``ProviderContract`` and ``ScanContract``.

    A capability is a ``supports_*`` class attribute, False here; a provider's subclass sets
    the ones it supports, and a test that needs one starts with ``self.require(name)`` (a skip
    that names the flag otherwise). A new capability (say ``supports_folders``) is declared
    here with a comment saying what it promises, plus the optional ``ContractMailbox`` method
    its tests need (raising NotImplementedError by default).
    """

    #: ``sync_cursor()`` returns a cursor that stays put while no mail arrives, moves when mail
    #: arrives, and ``Query(after_cursor=...)`` returns (at least) the mail added since.
    supports_cursor: ClassVar[bool] = False
    #: The mailbox implements ``recreate`` (a new identity, like a new IMAP UIDVALIDITY).
    supports_recreate: ClassVar[bool] = False

    def require(self, capability: str) -> None:
        """Skip the calling test unless this subclass declares ``capability`` (a flag name)."""
        if not hasattr(ContractBase, capability) and not hasattr(type(self), capability):
            raise AttributeError(f"unknown contract capability {capability!r}")
        if not getattr(self, capability, False):
            pytest.skip(f"{type(self).__name__} does not declare {capability}")

    @pytest.fixture
    def make_mailbox(self) -> MailboxFactory:
        """Subclasses return a factory: messages -> a ContractMailbox holding them."""
        pytest.fail(f"{type(self).__name__} must define the make_mailbox fixture", pytrace=False)

    @pytest.fixture
    def contract_mails(self) -> list[ContractMail]:
        """The mails the contract delivers (``standard_mails()`` unless overridden)."""
        return standard_mails()

    @pytest.fixture
    def mailbox(
        self, make_mailbox: MailboxFactory, contract_mails: list[ContractMail]
    ) -> ContractMailbox:
        """The mailbox under test, holding ``contract_mails``."""
        return make_mailbox([m.message for m in contract_mails])

    @pytest.fixture
    def provider(self, mailbox: ContractMailbox) -> Iterator[Provider]:
        """One open provider on ``mailbox``."""
        with mailbox.open() as opened:
            yield opened


@contextlib.contextmanager
def opened_source(mailbox: ContractMailbox) -> Iterator[tuple[str | Provider, dict[str, Any]]]:
    """The mailbox's source for the library calls, and the keyword arguments a URL needs."""
    source = mailbox.source()
    if isinstance(source, Provider):
        with source:
            yield source, {}
    else:
        yield source, mailbox.find_kwargs()


def find_all(mailbox: ContractMailbox, **selection: Any) -> list[Finding]:
    """``find_tokens`` on the mailbox's source (a URL goes through the registry)."""
    with opened_source(mailbox) as (source, kwargs):
        return find_tokens(source, **kwargs, **selection)


def find_one(mailbox: ContractMailbox, **selection: Any) -> Finding:
    """``find_token`` on the mailbox's source."""
    with opened_source(mailbox) as (source, kwargs):
        return find_token(source, **kwargs, **selection)


def message_id(raw: bytes) -> str | None:
    """The Message-ID header value of ``raw`` (None if it has none)."""
    m = _MESSAGE_ID.search(header_block(raw))
    return m.group(1).decode("ascii", "replace") if m else None


def _lines(raw: bytes) -> bytes:
    """Line ends and trailing blank lines normalised: container artefacts, not content."""
    return raw.replace(b"\r\n", b"\n").rstrip(b"\n")


class ProviderContract(ContractBase):
    """Lookups (``find_token``/``find_tokens``) and the search/fetch boundary itself."""

    def test_all_findings_newest_first(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail]
    ) -> None:
        found = find_all(mailbox)
        expected = positives(contract_mails)
        assert [f.token for f in found] == [e.token for e in expected]
        for f, e in zip(found, expected, strict=True):
            assert (f.username, f.language, f.template) == (e.username, e.language, e.template)
            assert f.received == e.received, e.name
            assert f.received.tzinfo is not None

    def test_newest_overall(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail]
    ) -> None:
        assert find_one(mailbox).token == positives(contract_mails)[0].token

    @pytest.mark.parametrize("spelling", ["as-written", "upper-case"])
    def test_newest_per_username(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], spelling: str
    ) -> None:
        usernames = {e.username for e in positives(contract_mails) if e.username}
        assert len(usernames) >= 2, "the contract mails need several usernames"
        for username in sorted(usernames):
            asked = username.upper() if spelling == "upper-case" else username
            want = next(
                e
                for e in positives(contract_mails)
                if (e.username or "").casefold() == username.casefold()
            )
            got = find_one(mailbox, username=asked)
            assert (got.token, got.received) == (want.token, want.received), asked

    def test_since_excludes_older_mail(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail]
    ) -> None:
        expected = positives(contract_mails)
        cutoff = expected[2].received
        assert expected[1].received > cutoff, "the contract mails need distinct times"
        found = find_all(mailbox, since=cutoff)
        assert [f.token for f in found] == [e.token for e in expected[:3]]
        assert len(find_all(mailbox, since=cutoff + timedelta(seconds=1))) == 2

    def test_since_after_the_newest_mail_finds_nothing(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail]
    ) -> None:
        newest = max(m.received for m in contract_mails)
        assert find_all(mailbox, since=newest + timedelta(days=1)) == []

    def test_unknown_username_is_not_found(self, mailbox: ContractMailbox) -> None:
        with pytest.raises(NotFoundError):
            find_one(mailbox, username="nobody@example.com")
        assert find_all(mailbox, username="nobody@example.com") == []

    def test_look_alikes_never_yield(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail]
    ) -> None:
        found = find_all(mailbox)
        # Exactly one finding per token mail: no look-alike slipped in, nothing is doubled.
        assert sorted(f.message_id or "" for f in found) == sorted(
            e.message_id for e in positives(contract_mails)
        )
        assert not {f.message_id for f in found} & {
            m.message_id for m in contract_mails if not m.token
        }

    def test_search_without_narrowing_yields_every_message_newest_first(
        self, provider: Provider, contract_mails: list[ContractMail]
    ) -> None:
        got = list(provider.search(Query(sender_domains=())))
        times = [c.received for c in got]
        assert all(t.tzinfo is not None for t in times)
        assert times == sorted(times, reverse=True)
        assert sorted(times) == sorted(m.received for m in contract_mails)
        assert len({c.ref for c in got}) == len(got)

    def test_sender_narrowing_keeps_every_token_mail(
        self, provider: Provider, contract_mails: list[ContractMail]
    ) -> None:
        narrowed = {c.received for c in provider.search(Query())}
        assert {e.received for e in positives(contract_mails)} <= narrowed

    def test_fetch_returns_the_delivered_bytes(
        self, provider: Provider, contract_mails: list[ContractMail]
    ) -> None:
        by_id = {m.message_id: m for m in contract_mails}
        assert len(by_id) == len(contract_mails), "the contract mails need unique Message-IDs"
        seen = set()
        for candidate in provider.search(Query(sender_domains=())):
            raw = provider.fetch(candidate)
            mid = message_id(raw)
            assert mid in by_id, candidate.ref
            # Line ends may differ (IMAP stores CRLF), and trailing blank lines (an mbox keeps
            # the separator line); the bytes otherwise may not.
            assert _lines(raw) == _lines(by_id[mid].raw), by_id[mid].name
            seen.add(mid)
        assert seen == set(by_id)

    def test_empty_mailbox_has_no_token(self, make_mailbox: MailboxFactory) -> None:
        empty = make_mailbox([])
        with empty.open() as provider:
            assert list(provider.search(Query(sender_domains=()))) == []
        assert find_all(empty) == []
