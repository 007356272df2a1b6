"""The scan contract: scheduled scans over a provider report each new token exactly once.

Subclass ``ScanContract`` with the same ``make_mailbox`` fixture as ``ProviderContract``; its
mailboxes must also implement ``add`` (mail arriving between scans), and ``recreate`` if the
subclass sets ``supports_recreate``. Each scan opens a new provider (as a scheduled run does)
and calls the library's ``scan`` with a state file under ``tmp_path``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from inbox_finder.boundary.provider import Query
from inbox_finder.errors import ActionError
from inbox_finder.model import Finding
from inbox_finder.scan.runner import Action, ScanResult, scan
from inbox_finder.testing import mail
from inbox_finder.testing.cases import (
    ContractMail,
    ContractMailbox,
    Message,
    newest_per_username,
    positives,
)
from inbox_finder.testing.contract import ContractBase


def run_scan(mailbox: ContractMailbox, state: Path, actions: Sequence[Action] = ()) -> ScanResult:
    """One scheduled run: open a provider, scan against ``state``, close it."""
    with mailbox.open() as provider:
        return scan(provider, state, actions=actions)


def reported(result: ScanResult) -> dict[str | None, str]:
    """username (case-folded; None for legacy mail) -> token of what a scan reported."""
    out = {_key(f): f.token for f in result.reported}
    assert len(out) == len(result.reported), "a username was reported twice in one scan"
    return out


def _key(finding: Finding) -> str | None:
    return finding.username.casefold() if finding.username else None


def failing(finding: Finding) -> None:
    """An action that always fails, like an ``--exec`` command exiting non-zero."""
    raise ActionError("the integration is down")


class ScanContract(ContractBase):
    """First scan, idle scans, new mail, cursor loss, mailbox resets, failing actions, state."""

    @pytest.fixture
    def state(self, tmp_path: Path) -> Path:
        """Where the scans of one test keep their state."""
        return tmp_path / "scan-state.json"

    def later(self, contract_mails: Sequence[ContractMail], hours: float = 1.0) -> Message:
        """A fresh token mail for dana@example.com, received after every contract mail."""
        when = max(m.received for m in contract_mails) + timedelta(hours=hours)
        return Message(mail.token_mail(mail.new_token(), "dana@example.com", when), when)

    def test_first_scan_reports_the_newest_token_of_each_username(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], state: Path
    ) -> None:
        result = run_scan(mailbox, state)
        want = {k: m.token for k, m in newest_per_username(contract_mails).items()}
        assert reported(result) == want
        assert not result.failed

    def test_unchanged_mailbox_reports_nothing(self, mailbox: ContractMailbox, state: Path) -> None:
        run_scan(mailbox, state)
        again = run_scan(mailbox, state)
        assert again.reported == [] and again.failed == []
        if self.supports_cursor:
            assert again.unchanged, "an unchanged cursor must skip the search"

    def test_look_alike_arriving_reports_nothing(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], state: Path
    ) -> None:
        run_scan(mailbox, state)
        when = max(m.received for m in contract_mails) + timedelta(hours=1)
        mailbox.add(Message(mail.verification_mail(when=when), when))
        mailbox.add(Message(mail.other_mail(7, when), when))
        assert run_scan(mailbox, state).reported == []

    def test_new_token_mail_is_reported_once(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], state: Path
    ) -> None:
        run_scan(mailbox, state)
        newer = self.later(contract_mails)
        mailbox.add(newer)
        fresh_user, token = "newcomer@example.com", mail.new_token()
        when = newer.received + timedelta(minutes=5)
        mailbox.add(Message(mail.token_mail(token, fresh_user, when), when))
        result = run_scan(mailbox, state)
        assert reported(result) == {"dana@example.com": _token_of(newer), fresh_user: token}
        assert run_scan(mailbox, state).reported == []

    def test_older_token_arriving_late_is_not_reported(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], state: Path
    ) -> None:
        run_scan(mailbox, state)
        dana = newest_per_username(contract_mails)["dana@example.com"]
        when = dana.received - timedelta(days=1)
        mailbox.add(Message(mail.token_mail(mail.new_token(), "dana@example.com", when), when))
        assert run_scan(mailbox, state).reported == []

    @pytest.mark.parametrize("cursor", ["garbage", "", None, "imap:1:2", "gmail:1"])
    def test_unusable_cursor_does_not_report_again(
        self,
        mailbox: ContractMailbox,
        contract_mails: list[ContractMail],
        state: Path,
        cursor: str | None,
    ) -> None:
        run_scan(mailbox, state)
        data = json.loads(state.read_text(encoding="utf-8"))
        state.write_text(json.dumps({**data, "cursor": cursor}), encoding="utf-8")
        assert run_scan(mailbox, state).reported == []
        newer = self.later(contract_mails)
        mailbox.add(newer)
        assert reported(run_scan(mailbox, state)) == {"dana@example.com": _token_of(newer)}

    def test_recreated_mailbox_does_not_report_again(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], state: Path
    ) -> None:
        self.require("supports_recreate")
        run_scan(mailbox, state)
        newer = self.later(contract_mails)
        # The new mail is delivered first: in the new mailbox it sits *below* the old cursor's
        # position (a low UID), where a cursor wrongly carried over would not look.
        mailbox.recreate([newer, *(m.message for m in contract_mails)])
        assert reported(run_scan(mailbox, state)) == {"dana@example.com": _token_of(newer)}
        assert run_scan(mailbox, state).reported == []

    def test_failed_action_offers_the_token_again(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], state: Path
    ) -> None:
        want = {k: m.token for k, m in newest_per_username(contract_mails).items()}
        first = run_scan(mailbox, state, [failing])
        assert first.reported == [] and {_key(f): f.token for f, _ in first.failed} == want
        assert reported(run_scan(mailbox, state)) == want
        # New mail whose action fails: the cursor must not move past it.
        newer = self.later(contract_mails)
        mailbox.add(newer)
        failed = run_scan(mailbox, state, [failing])
        assert [f.token for f, _ in failed.failed] == [_token_of(newer)]
        assert reported(run_scan(mailbox, state)) == {"dana@example.com": _token_of(newer)}
        assert run_scan(mailbox, state).reported == []

    def test_state_file_holds_no_token_username_or_message_id(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail], state: Path
    ) -> None:
        run_scan(mailbox, state)
        newer = self.later(contract_mails)
        mailbox.add(newer)
        run_scan(mailbox, state)
        text = state.read_text(encoding="utf-8")
        secrets = [m.token for m in positives(contract_mails)] + [_token_of(newer)]
        assert not [s for s in secrets if s and s in text]
        names = {m.username for m in contract_mails if m.username}
        assert not [n for n in names if n in text]
        assert "@" not in text  # no address of any kind
        ids = {m.message_id.strip("<>") for m in contract_mails}
        assert not [i for i in ids if i in text]
        assert state.stat().st_mode & 0o777 == 0o600

    def test_cursor_stays_put_and_moves_with_new_mail(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail]
    ) -> None:
        self.require("supports_cursor")
        with mailbox.open() as provider:
            cursor = provider.sync_cursor()
            assert cursor is not None and provider.sync_cursor() == cursor
        with mailbox.open() as provider:
            assert provider.sync_cursor() == cursor, "a new connection, the same cursor"
        mailbox.add(self.later(contract_mails))
        with mailbox.open() as provider:
            assert provider.sync_cursor() != cursor

    def test_search_after_a_cursor_returns_the_new_mail(
        self, mailbox: ContractMailbox, contract_mails: list[ContractMail]
    ) -> None:
        self.require("supports_cursor")
        with mailbox.open() as provider:
            cursor = provider.sync_cursor()
        newer = self.later(contract_mails)
        mailbox.add(newer)
        with mailbox.open() as provider:
            got = list(provider.search(Query(after_cursor=cursor)))
            assert newer.received in {c.received for c in got}
            newest = max(got, key=lambda c: c.received)
            assert _token_of(newer).encode() in provider.fetch(newest)
            # A cursor the provider does not understand means "everything" (a superset).
            everything = {c.received for c in provider.search(Query(after_cursor="bogus:1"))}
        assert {m.received for m in positives(contract_mails)} <= everything


def _token_of(message: Message) -> str:
    """The token inside a mail made by ``ScanContract.later``."""
    line = next(
        ln for ln in message.raw.decode("ascii").splitlines() if ln.startswith("Security token")
    )
    return line.rsplit(" ", 1)[1]
