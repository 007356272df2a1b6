"""IMAP against a server without SORT (RFC 5256): the real Dovecot behind a TLS-terminating
fault proxy that removes SORT and ESORT from every capability announcement.

Without SORT the provider must SEARCH, fetch every match's INTERNALDATE and order the matches
itself (``_by_date``); UID order is delivery order, not receive order, so the mailboxes here are
filled out of INTERNALDATE order and the shipped provider contract runs through the proxy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
from emulators.fault_proxy import FaultProxy, TlsTermination
from mailboxes import DovecotMailbox

from inbox_finder import find_token
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing import MailboxFactory, Message, ProviderContract
from inbox_finder.testing.cases import T0
from inbox_finder.testing.dovecot import DovecotServer
from inbox_finder.testing.mail import new_token, other_mail, token_mail

HIDDEN = ("SORT", "ESORT")
SORT_COMMAND = r"^(?:UID )?SORT\b"
# Delivery (UID) order of the receive times, in hours after T0: neither newest nor oldest first.
HOURS = [3, 0, 7, 1, 5, 2, 6, 4]


def out_of_date_order(messages: Sequence[Message]) -> list[Message]:
    """The messages in an order that is neither oldest first nor newest first (n >= 3)."""
    dated = sorted(messages, key=lambda m: m.received)
    return dated[1::2] + dated[0::2][::-1]


class ProxiedMailbox(DovecotMailbox):
    """A Dovecot folder filled out of date order, read through a proxy that hides SORT."""

    def __init__(
        self,
        server: DovecotServer,
        proxy: FaultProxy,
        user: str,
        messages: Sequence[Message],
    ) -> None:
        self.proxy = proxy
        super().__init__(server, user, "INBOX", out_of_date_order(messages))

    @property
    def url(self) -> str:
        return self.proxy.url(self.user, self.folder)

    def open(self) -> Provider:
        return open_provider(self.url, SourceOptions(ca_file=self.server.ca_file))


@pytest.fixture
def nosort(dovecot: DovecotServer) -> Iterator[FaultProxy]:
    tls = TlsTermination.from_dir(dovecot.base)
    with FaultProxy((dovecot.host, dovecot.imaps_port), tls=tls, hide_capabilities=HIDDEN) as p:
        yield p


@pytest.fixture
def plain_proxy(dovecot: DovecotServer) -> Iterator[FaultProxy]:
    tls = TlsTermination.from_dir(dovecot.base)
    with FaultProxy((dovecot.host, dovecot.imaps_port), tls=tls) as p:
        yield p


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    secret = f"nosort-{os.urandom(4).hex()}"
    monkeypatch.setenv(PASSWORD_ENV, secret)
    return secret


class TestImapContractWithoutSort(ProviderContract):
    supports_cursor = True

    @pytest.fixture
    def make_mailbox(
        self, dovecot: DovecotServer, nosort: FaultProxy, password: str
    ) -> Iterator[MailboxFactory]:
        def make(messages: Sequence[Message]) -> ProxiedMailbox:
            user, _ = dovecot.new_user("nosort", password)
            return ProxiedMailbox(dovecot, nosort, user, messages)

        yield make
        # The contract really ran without SORT: hidden on the wire, never sent.
        assert all(f.removed > 0 for f in nosort.filters)
        assert nosort.count(SORT_COMMAND) == 0


def fill(dovecot: DovecotServer, user: str) -> dict[int, str]:
    """Token mails (and noise) delivered in HOURS order; hour -> token."""
    tokens = {h: new_token() for h in HOURS}
    mails = []
    for h in HOURS:
        when = T0 + timedelta(hours=h)
        mails.append((token_mail(tokens[h], when=when).replace(b"\n", b"\r\n"), when))
        mails.append((other_mail(h, when=when).replace(b"\n", b"\r\n"), when))
    dovecot.append_many(user, mails)
    return tokens


def test_candidates_come_newest_internaldate_first_not_in_uid_order(
    dovecot: DovecotServer, nosort: FaultProxy, password: str
) -> None:
    user, _ = dovecot.new_user("nosort", password)
    tokens = fill(dovecot, user)
    options = SourceOptions(ca_file=dovecot.ca_file)
    with open_provider(nosort.url(user), options) as p:
        got = [c.received for c in p.search(Query(sender_domains=("salesforce.com",)))]
        assert got == [T0 + timedelta(hours=h) for h in sorted(HOURS, reverse=True)]
        assert find_token(p).token == tokens[max(HOURS)]
    assert nosort.count(SORT_COMMAND) == 0
    assert nosort.count(r"^UID SEARCH\b") >= 1
    assert nosort.count(r"^UID FETCH \S+ \(?INTERNALDATE\)?$") >= 1  # the dates, fetched first
    assert nosort.filters and all(f.removed >= 2 for f in nosort.filters)


def test_the_same_server_with_sort_is_asked_to_sort(
    dovecot: DovecotServer, plain_proxy: FaultProxy, password: str
) -> None:
    """The control: only hiding SORT moves the provider off UID SORT."""
    user, _ = dovecot.new_user("withsort", password)
    tokens = fill(dovecot, user)
    with open_provider(plain_proxy.url(user), SourceOptions(ca_file=dovecot.ca_file)) as p:
        assert find_token(p).token == tokens[max(HOURS)]
    assert plain_proxy.count(SORT_COMMAND) == 1
    # SEARCHRES: the sender search saves its result for the SORT (search.py); nothing else.
    assert plain_proxy.count(r"^UID SEARCH RETURN \(SAVE\) ") == 1
    assert plain_proxy.count(r"^UID SEARCH (?!RETURN \(SAVE\) )") == 0
