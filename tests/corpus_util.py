"""The golden corpus (tests/corpus) and builders that load it into each kind of mailbox."""

from __future__ import annotations

import json
import mailbox
import os
import shutil
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from inbox_finder.testing.cases import ContractMail

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Expected:
    """One corpus file and what the tool must make of it."""

    file: str
    token: str | None
    username: str | None
    language: str | None
    template: str | None
    received: datetime
    reject: str | None

    @property
    def raw(self) -> bytes:
        return (CORPUS / self.file).read_bytes()

    @property
    def message_id(self) -> str:
        for line in self.raw.decode("latin-1").splitlines():
            if line.lower().startswith("message-id:"):
                return line.split(":", 1)[1].strip()
            if not line.strip():
                break
        raise AssertionError(f"{self.file} has no Message-ID")


def load_expected() -> list[Expected]:
    """All corpus entries, in file order."""
    data = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    return [
        Expected(
            file=e["file"],
            token=e["token"],
            username=e["username"],
            language=e["language"],
            template=e["template"],
            received=datetime.fromisoformat(e["received"]),
            reject=e["reject"],
        )
        for e in data
    ]


def positives() -> list[Expected]:
    """Entries that yield a token, newest first."""
    return sorted((e for e in load_expected() if e.token), key=lambda e: e.received, reverse=True)


def negatives() -> list[Expected]:
    """Look-alikes that must never yield a token."""
    return [e for e in load_expected() if not e.token]


def golden_mails() -> list[ContractMail]:
    """The corpus as contract mails (file order = delivery order), expected values attached."""
    return [
        ContractMail(
            e.file, e.raw, e.received, e.message_id, e.token, e.username, e.language, e.template
        )
        for e in load_expected()
    ]


class GoldenCorpus:
    """Mixin for a contract subclass: deliver the golden corpus instead of the standard mails."""

    @pytest.fixture
    def contract_mails(self, golden_mails: list[ContractMail]) -> list[ContractMail]:
        return golden_mails


def _set_times(path: Path, when: datetime) -> None:
    ts = when.timestamp()
    os.utime(path, (ts, ts))


def build_eml_dir(target: Path) -> Path:
    """A folder of .eml files; file mtime = expected receive time."""
    target.mkdir(parents=True, exist_ok=True)
    for e in load_expected():
        shutil.copyfile(CORPUS / e.file, target / e.file)
        _set_times(target / e.file, e.received)
    return target


def build_mbox(target: Path) -> Path:
    """An mbox file, delivered in file order, From_ line = expected receive time (UTC)."""
    box = mailbox.mbox(str(target), create=True)
    try:
        for e in load_expected():
            msg = mailbox.mboxMessage(e.raw)
            msg.set_from("MAILER-DAEMON", e.received.utctimetuple())
            box.add(msg)
        box.flush()
    finally:
        box.close()
    return target


# Corpus mails that look like Salesforce's own token mail but carry no token of their own:
# newer than an answer, each is a warning that the answer may not be the newest.
UNREADABLE = ("35_neg_token_only_in_attached_message.eml",)


def build_maildir(target: Path, exclude: Container[str] = ()) -> Path:
    """A Maildir with delivery-time file names (``<epoch>.<n>.host``) in new/ and cur/,
    of every corpus mail but those named in ``exclude``."""
    for sub in ("cur", "new", "tmp"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    for i, e in enumerate(load_expected()):
        if e.file in exclude:
            continue
        sub = "cur" if i % 2 else "new"
        suffix = ":2,S" if sub == "cur" else ""
        name = f"{int(e.received.timestamp())}.M{i}P1.testhost{suffix}"
        (target / sub / name).write_bytes(e.raw)
        _set_times(target / sub / name, e.received)
    return target
