"""What the shipped contracts put into a mailbox, and the small interface a provider's tests
implement so the contracts can fill, open and grow that mailbox. No pytest here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from inbox_finder.boundary.provider import Provider
from inbox_finder.testing import mail


class Message(NamedTuple):
    """One message to deliver: raw RFC 822 bytes and the mailbox's receive time (aware)."""

    raw: bytes
    received: datetime


@dataclass(frozen=True)
class ContractMail:
    """A message plus what the tool must make of it (``token`` None: must never yield)."""

    name: str
    raw: bytes
    received: datetime
    message_id: str
    token: str | None = None
    username: str | None = None
    language: str | None = None
    template: str | None = None

    @property
    def message(self) -> Message:
        """The (raw, received) pair a mailbox factory receives."""
        return Message(self.raw, self.received)


class ContractMailbox(ABC):
    """One mailbox under test. ``open`` is required; the others only for the capabilities
    a contract subclass declares (``add`` for every ScanContract, ``recreate`` for
    ``supports_recreate``)."""

    @abstractmethod
    def open(self) -> Provider:
        """A new provider on this mailbox; the contract uses it and closes it."""

    def source(self) -> str | Provider:
        """What lookups are given: a new provider (default), or a URL to go through the
        registry as a user's source would (with ``find_kwargs``)."""
        return self.open()

    def find_kwargs(self) -> dict[str, Any]:
        """Keyword arguments ``find_token`` needs with a URL source (e.g. ``ca_file``)."""
        return {}

    def add(self, message: Message) -> None:
        """Deliver one more message, as mail arriving later would."""
        raise NotImplementedError(f"{type(self).__name__} cannot add mail")

    def recreate(self, messages: Sequence[Message]) -> None:
        """Replace the mailbox by a new one (new identity, like a new IMAP UIDVALIDITY)."""
        raise NotImplementedError(f"{type(self).__name__} cannot recreate its mailbox")


#: What a contract subclass's ``make_mailbox`` fixture returns: messages -> a filled mailbox.
MailboxFactory = Callable[[Sequence[Message]], ContractMailbox]

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

# Fixed tokens (generated once, frozen): the contracts must be reproducible byte for byte.
TOKENS = {
    "dana": "Q7rT2mLw9XkVb3NcZp5Hs8Jd1",
    "dana-old": "Fh3KxP0wQe7RtY2uI9oLzA5s",
    "uat": "M4nB6vC8xZ1aS3dF5gH7jK9lQ",
    "ops-html": "Wq2Er4Ty6Ui8Op0As2Df4Gh6J",
    "yamada": "Zx9Cv7Bn5Ma3Sd1Fg8Hj6Kl4P",
    "legacy": "Lm2Nb4Vc6Xz8Qw1Er3Ty5Ui7",
    "spoof": "Sp0ofT0kenVa1ueNeverUsedX",
    "fwd": "Fw4rdedT0kenNeverRep0rted",
}


def _mid(name: str) -> str:
    return f"<contract-{name}@inbox-finder.test>"


def _positive(
    name: str,
    raw: bytes,
    when: datetime,
    token: str,
    username: str | None,
    language: str = "en",
    template: str = "current",
) -> ContractMail:
    return ContractMail(name, raw, when, _mid(name), token, username, language, template)


def standard_mails() -> list[ContractMail]:
    """The default mailbox of both contracts: token mails of several kinds and usernames,
    look-alikes (one of them the newest message) and unrelated mail, in delivery order
    (not receive order). Deterministic: the same bytes on every call."""
    t = TOKENS

    def at(days: float) -> datetime:
        return T0 - timedelta(days=days)

    mid = _mid
    mails = [
        _positive(
            "dana-old",
            mail.token_mail(t["dana-old"], when=at(400), message_id=mid("dana-old")),
            at(400),
            t["dana-old"],
            "dana@example.com",
        ),
        _positive(
            "legacy",
            mail.legacy_token_mail(t["legacy"], at(3000), message_id=mid("legacy")),
            at(3000),
            t["legacy"],
            None,
            template="legacy",
        ),
        _positive(
            "ops-html",
            mail.html_token_mail(
                t["ops-html"], "ops@example.com", at(1), message_id=mid("ops-html")
            ),
            at(1),
            t["ops-html"],
            "ops@example.com",
        ),
        _positive(
            "dana",
            mail.token_mail(t["dana"], when=at(10), message_id=mid("dana")),
            at(10),
            t["dana"],
            "dana@example.com",
        ),
        _positive(
            "uat",
            mail.token_mail(
                t["uat"],
                "dana@example.com.uat",
                at(3),
                subject="Sandbox: " + mail.SUBJECT,
                message_id=mid("uat"),
            ),
            at(3),
            t["uat"],
            "dana@example.com.uat",
        ),
        _positive(
            "yamada",
            mail.japanese_token_mail(t["yamada"], when=at(30), message_id=mid("yamada")),
            at(30),
            t["yamada"],
            "yamada@example.co.jp",
            language="ja",
        ),
    ]
    negatives = [
        ("verify", mail.verification_mail(when=at(0), message_id=mid("verify")), at(0)),
        ("reset", mail.password_reset_mail(when=at(2), message_id=mid("reset")), at(2)),
        ("spoof", mail.spoofed_mail(t["spoof"], when=at(0.5), message_id=mid("spoof")), at(0.5)),
        ("fwd", mail.forwarded_mail(t["fwd"], when=at(0.25), message_id=mid("fwd")), at(0.25)),
        ("lookalike-domain", _lookalike_domain(at(5)), at(5)),
        ("digest", mail.other_mail(1, at(4), message_id=mid("digest")), at(4)),
    ]
    for name, raw, when in negatives:
        mails.insert(len(mails) // 2, ContractMail(name, raw, when, mid(name)))
    return mails


def _lookalike_domain(when: datetime) -> bytes:
    name = "lookalike-domain"
    return mail.token_mail(
        TOKENS["spoof"],
        when=when,
        sender="support@salesforce.com.evil.net",
        message_id=_mid(name),
    )


def positives(mails: Sequence[ContractMail]) -> list[ContractMail]:
    """The mails that yield a token, newest first."""
    return sorted((m for m in mails if m.token), key=lambda m: m.received, reverse=True)


def newest_per_username(mails: Sequence[ContractMail]) -> dict[str | None, ContractMail]:
    """The newest token mail of each username (None: legacy mails without a username)."""
    found: dict[str | None, ContractMail] = {}
    for m in positives(mails):
        found.setdefault(m.username.casefold() if m.username else None, m)
    return found
