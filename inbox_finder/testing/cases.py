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


#: (token, receive time, Message-ID) -> raw bytes
Build = Callable[[str, datetime, str], bytes]

# name, days before T0, username, language, template, builder. Token: TOKENS[name].
_POSITIVES: list[tuple[str, float, str | None, str, str, Build]] = [
    ("dana-old", 400, "dana@example.com", "en", "current", lambda t, w, m: mail.token_mail(
        t, when=w, message_id=m)),
    ("legacy", 3000, None, "en", "legacy", lambda t, w, m: mail.legacy_token_mail(
        t, w, message_id=m)),
    ("ops-html", 1, "ops@example.com", "en", "current", lambda t, w, m: mail.html_token_mail(
        t, "ops@example.com", w, message_id=m)),
    ("dana", 10, "dana@example.com", "en", "current", lambda t, w, m: mail.token_mail(
        t, when=w, message_id=m)),
    ("uat", 3, "dana@example.com.uat", "en", "current", lambda t, w, m: mail.token_mail(
        t, "dana@example.com.uat", w, subject="Sandbox: " + mail.SUBJECT, message_id=m)),
    ("yamada", 30, "yamada@example.co.jp", "ja", "current", lambda t, w, m: (
        mail.japanese_token_mail(t, when=w, message_id=m))),
]  # fmt: skip

# name, days before T0, builder (the token, if any, is a decoy that must never be reported).
_NEGATIVES: list[tuple[str, float, Build]] = [
    ("verify", 0, lambda t, w, m: mail.verification_mail(when=w, message_id=m)),
    ("reset", 2, lambda t, w, m: mail.password_reset_mail(when=w, message_id=m)),
    ("spoof", 0.5, lambda t, w, m: mail.spoofed_mail(t, when=w, message_id=m)),
    ("fwd", 0.25, lambda t, w, m: mail.forwarded_mail(t, when=w, message_id=m)),
    ("lookalike-domain", 5, lambda t, w, m: mail.token_mail(
        t, when=w, sender="support@salesforce.com.evil.net", message_id=m)),
    ("digest", 4, lambda t, w, m: mail.other_mail(1, w, message_id=m)),
]  # fmt: skip


def standard_mails() -> list[ContractMail]:
    """The default mailbox of both contracts: token mails of several kinds and usernames,
    look-alikes (one of them the newest message) and unrelated mail, in delivery order
    (not receive order). Deterministic: the same bytes on every call."""
    mails = []
    for name, days, username, language, template, build in _POSITIVES:
        when, token = T0 - timedelta(days=days), TOKENS[name]
        raw = build(token, when, _mid(name))
        mails.append(ContractMail(name, raw, when, _mid(name), token, username, language, template))
    for name, days, build in _NEGATIVES:
        when = T0 - timedelta(days=days)
        raw = build(TOKENS.get(name, TOKENS["spoof"]), when, _mid(name))
        mails.insert(len(mails) // 2, ContractMail(name, raw, when, _mid(name)))
    return mails


def positives(mails: Sequence[ContractMail]) -> list[ContractMail]:
    """The mails that yield a token, newest first."""
    return sorted((m for m in mails if m.token), key=lambda m: m.received, reverse=True)


def newest_per_username(mails: Sequence[ContractMail]) -> dict[str | None, ContractMail]:
    """The newest token mail of each username (None: legacy mails without a username)."""
    found: dict[str | None, ContractMail] = {}
    for m in positives(mails):
        found.setdefault(m.username.casefold() if m.username else None, m)
    return found
