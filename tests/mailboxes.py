"""ContractMailbox implementations for the built-in providers (used by the contract subclasses
in test_local_providers / test_scan_local, test_imap_provider / test_scan_imap, and the Gmail
and Outlook modules): each builds a real mailbox of its kind from (raw bytes, receive time)."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulators.gmail_emulator import GmailEmulator
from emulators.ms_emulators import IdentityEmulator, LoopbackCA
from emulators.ms_graph_emulator import GraphEmulator
from inbox_finder.providers.gmail.provider import GmailProvider
from inbox_finder.providers.outlook.provider import OutlookProvider

from inbox_finder.boundary.provider import Provider, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing import ContractMailbox, MailboxFactory, Message
from inbox_finder.testing.dovecot import DovecotServer

_serial = itertools.count()


def _set_time(path: Path, message: Message) -> None:
    ts = message.received.timestamp()
    os.utime(path, (ts, ts))


def from_line(message: Message) -> bytes:
    """An mbox ``From_`` line carrying the receive time (UTC, asctime format)."""
    return f"From MAILER-DAEMON {message.received.astimezone(UTC):%a %b %d %H:%M:%S %Y}\n".encode()


def mbox_entry(message: Message) -> bytes:
    """One mbox entry: From_ line, the message (body ``From `` lines quoted), a blank line."""
    raw = message.raw.replace(b"\nFrom ", b"\n>From ")
    return from_line(message) + raw + (b"" if raw.endswith(b"\n") else b"\n") + b"\n"


class LocalMailbox(ContractMailbox):
    """An eml folder, a Maildir or an mbox file on disk, opened through its URL."""

    def __init__(
        self, kind: str, root: Path, messages: Sequence[Message], *, by_time: bool = False
    ) -> None:
        self.kind, self.by_time = kind, by_time
        self.path = root / {"eml": "eml", "maildir": "Maildir", "mbox": "inbox.mbox"}[kind]
        self._write(messages)

    @property
    def url(self) -> str:
        return f"{self.kind}:{self.path}"

    def open(self) -> Provider:
        return open_provider(self.url)

    def source(self) -> str:
        return self.url

    def _write(self, messages: Sequence[Message]) -> None:
        ordered = sorted(messages, key=lambda m: m.received) if self.by_time else messages
        if self.kind == "mbox":
            # A new file (new inode) replaced atomically, like a restore from a backup.
            tmp = self.path.with_name(self.path.name + ".new")
            tmp.write_bytes(b"".join(mbox_entry(m) for m in ordered))
            tmp.replace(self.path)
            return
        if self.path.exists():
            shutil.rmtree(self.path)
        for sub in ("cur", "new", "tmp") if self.kind == "maildir" else ("",):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        for message in ordered:
            self.add(message)

    def add(self, message: Message) -> None:
        n = next(_serial)
        if self.kind == "mbox":
            with self.path.open("ab") as fh:
                fh.write(mbox_entry(message))
            return
        if self.kind == "eml":
            path = self.path / f"{n:05d}.eml"
        else:  # Maildir: the delivery time in the name; alternate new/ and cur/
            sub, suffix = ("cur", ":2,S") if n % 2 else ("new", "")
            path = self.path / sub / f"{int(message.received.timestamp())}.M{n}P1.testhost{suffix}"
        path.write_bytes(message.raw)
        _set_time(path, message)

    def recreate(self, messages: Sequence[Message]) -> None:
        self._write(messages)


class DovecotMailbox(ContractMailbox):
    """A folder of a fresh Dovecot user (INTERNALDATE = receive time), opened by its URL."""

    def __init__(
        self, server: DovecotServer, user: str, folder: str, messages: Sequence[Message]
    ) -> None:
        self.server, self.user, self.folder = server, user, folder
        self._append(messages)

    def _append(self, messages: Sequence[Message]) -> None:
        # IMAP speaks CRLF. (append_many creates a missing folder, even for no messages.)
        crlf = [
            (m.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), m.received) for m in messages
        ]
        self.server.append_many(self.user, crlf, folder=self.folder)

    @property
    def url(self) -> str:
        return self.server.url(self.user, self.folder)

    def open(self) -> Provider:
        return open_provider(self.url, SourceOptions(ca_file=self.server.ca_file))

    def source(self) -> str:
        return self.url

    def find_kwargs(self) -> dict[str, Any]:
        return {"ca_file": self.server.ca_file}

    def add(self, message: Message) -> None:
        self._append([message])

    def recreate(self, messages: Sequence[Message]) -> None:
        """Delete and create the folder again: Dovecot gives it a new UIDVALIDITY."""
        assert self.folder != "INBOX", "INBOX cannot be deleted"
        self.server.delete_folder(self.user, self.folder)
        self._append(messages)


class GmailMailbox(ContractMailbox):
    """A Gmail emulator of its own, read through googleapiclient with a valid access token."""

    def __init__(self, emu: GmailEmulator, creds: Path, messages: Sequence[Message]) -> None:
        self.emu = emu
        self.creds = fresh_gmail_creds(emu, creds)
        for message in messages:
            self.add(message)

    def open(self) -> GmailProvider:
        profile = {
            "credentials": str(self.creds),
            "api_endpoint": self.emu.url,
            "token_uri": self.emu.token_uri,
        }
        return GmailProvider.from_url("gmail://me", SourceOptions(timeout=5.0, profile=profile))

    def add(self, message: Message) -> None:
        self.emu.add_message(message.raw, message.received)


def fresh_gmail_creds(emu: GmailEmulator, path: Path) -> Path:
    """Authorized-user JSON whose access token is valid, so no refresh round trip happens."""
    import json
    from datetime import datetime

    info = emu.authorized_user_info(
        token=emu.issue_access_token(), expiry=datetime.now(UTC) + timedelta(hours=1)
    )
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


class GraphMailbox(ContractMailbox):
    """A fresh mailbox of the Graph emulator, read app-only through MSAL + requests."""

    def __init__(
        self,
        graph: GraphEmulator,
        ca: LoopbackCA,
        profile: dict[str, Any],
        messages: Sequence[Message],
    ) -> None:
        self.graph, self.ca, self.profile = graph, ca, profile
        self.upn = f"box{next(_serial)}@example.com"
        graph.add_mailbox(self.upn)
        for message in messages:
            self.add(message)

    def open(self) -> OutlookProvider:
        options = SourceOptions(ca_file=str(self.ca.ca_file), timeout=5, profile=self.profile)
        return OutlookProvider.from_url(f"outlook://{self.upn}", options)

    def add(self, message: Message) -> None:
        self.graph.add_message(self.upn, message.raw, message.received)


class LocalFixtures:
    """make_mailbox for one local kind (``kind``); ``by_time``: write in delivery order."""

    kind = ""
    by_time = False
    supports_cursor = True
    supports_recreate = True

    @pytest.fixture
    def make_mailbox(self, tmp_path: Path) -> MailboxFactory:
        roots = (tmp_path / f"box{n}" for n in itertools.count())

        def make(messages: Sequence[Message]) -> LocalMailbox:
            root = next(roots)
            root.mkdir()
            return LocalMailbox(self.kind, root, messages, by_time=self.by_time)

        return make


class DovecotFixtures:
    """make_mailbox: a fresh Dovecot user per mailbox, ``folder`` holding the messages."""

    folder = "INBOX"
    supports_cursor = True

    @pytest.fixture
    def make_mailbox(
        self, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
    ) -> MailboxFactory:
        password = f"contract-{os.urandom(4).hex()}"
        monkeypatch.setenv(PASSWORD_ENV, password)  # every user of this test shares it

        def make(messages: Sequence[Message]) -> DovecotMailbox:
            user, _ = dovecot.new_user("contract", password)
            return DovecotMailbox(dovecot, user, self.folder, messages)

        return make


class GmailFixtures:
    """make_mailbox: a new Gmail emulator per mailbox (closed after the test)."""

    supports_cursor = True

    @pytest.fixture
    def make_mailbox(self, tmp_path: Path) -> Iterator[MailboxFactory]:
        started: list[GmailEmulator] = []

        def make(messages: Sequence[Message]) -> GmailMailbox:
            started.append(GmailEmulator().start())
            return GmailMailbox(started[-1], tmp_path / f"gmail{len(started)}.json", messages)

        yield make
        for emu in started:
            emu.close()


GRAPH_APP_ID = "11111111-2222-3333-4444-555555555555"
GRAPH_SECRET = "s3cr3t~Value.That-Must_Never.Leak"


class GraphFixtures:
    """make_mailbox: a new mailbox (UPN) on one identity + Graph emulator pair per class."""

    supports_cursor = True

    @pytest.fixture(scope="class")
    @classmethod
    def contract_graph(cls, ca: LoopbackCA) -> Iterator[GraphEmulator]:
        with IdentityEmulator(ca) as idp, GraphEmulator(idp, ca) as graph:
            idp.register_app(GRAPH_APP_ID, secret=GRAPH_SECRET)
            yield graph

    @pytest.fixture
    def make_mailbox(
        self, contract_graph: GraphEmulator, ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch
    ) -> MailboxFactory:
        monkeypatch.setenv("CONTRACT_APP_SECRET", GRAPH_SECRET)
        idp = contract_graph.identity
        profile = {
            "client_id": GRAPH_APP_ID,
            "tenant": idp.tenant_id,
            "authority": idp.authority(),
            "graph_endpoint": contract_graph.endpoint,
            "client_secret_env": "CONTRACT_APP_SECRET",
            "page_size": 7,  # the corpus spans several pages
        }

        def make(messages: Sequence[Message]) -> GraphMailbox:
            return GraphMailbox(contract_graph, ca, profile, messages)

        return make
