"""Desktop mail stores built on disk for the tests: an Apple Mail ``V10`` tree, MH folders in
Claws Mail's layout, and folders of Outlook ``.msg`` files written by a real MSG writer.

The ``.msg`` files come from ``@tutao/oxmsg`` (MIT; a port of MsgKit, which writes MSG as
Outlook saves a received mail: transport headers, delivery time, text and HTML bodies), run
with Node from ``tests/msgwriter`` (``npm ci --prefix tests/msgwriter``, done by ``make
test``). Without it the ``.msg`` tests are skipped locally and fail under CI=true.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import itertools
import json
import os
import plistlib
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pytest

from inbox_finder.boundary.provider import Provider
from inbox_finder.boundary.registry import open_provider
from inbox_finder.testing import ContractMailbox, MailboxFactory, Message
from inbox_finder.testing.ci import running_in_ci

WRITER = Path(__file__).parent / "msgwriter"
ACCOUNT = "6A1D3B52-0C4E-4F7B-9E61-2B8F0D5C7A19"
MAILBOX_UUID = "0F3C9E1A-7B2D-4C58-A6E4-91D2B7F03C6E"
_serial = itertools.count(1)


def tree_state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry's content hash (files), mtime and mode: what "unchanged" means for a store
    a lookup only reads."""
    state = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(root))] = (digest, st.st_mtime_ns, st.st_mode)
    return state


def set_time(path: Path, when: datetime) -> None:
    """Set a file's atime and mtime to ``when``."""
    os.utime(path, (when.timestamp(), when.timestamp()))


class StoreMailbox(ContractMailbox):
    """A store kept in one directory, ``LOCATION`` below the home it is given, searched as
    ``SCHEME:path``; ``_build`` lays it out and adds the messages, ``recreate`` deletes the
    whole store and builds it again (a restore, a re-import, a cleared cache)."""

    SCHEME: ClassVar[str]
    LOCATION: ClassVar[tuple[str, ...]]

    def __init__(self, root: Path, messages: Sequence[Message]) -> None:
        self.path = root.joinpath(*self.LOCATION)
        self._build(messages)

    def _build(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.add(message)

    def recreate(self, messages: Sequence[Message]) -> None:
        shutil.rmtree(self.path)
        self._build(messages)

    def open(self) -> Provider:
        return open_provider(self.source())

    def source(self) -> str:
        return f"{self.SCHEME}:{self.path}"


class StoreFixtures:
    """make_mailbox: a new ``mailbox_class`` store in a home of its own per mailbox."""

    mailbox_class: ClassVar[type[StoreMailbox]]
    supports_cursor = True
    supports_recreate = True

    @pytest.fixture
    def make_mailbox(self, tmp_path: Path) -> MailboxFactory:
        roots = (tmp_path / f"home{n}" for n in itertools.count())

        def make(messages: Sequence[Message]) -> StoreMailbox:
            root = next(roots)
            root.mkdir()
            return self.mailbox_class(root, messages)

        return make


# --- Apple Mail ---------------------------------------------------------------------------


def emlx_bytes(
    raw: bytes, received: datetime | None, *, flags: int = 0, pad: bool = False
) -> bytes:
    """An ``.emlx`` file as Apple Mail writes it: byte count, message, XML plist."""
    meta: dict[str, Any] = {"flags": flags, "date-sent": 0}
    if received is not None:
        meta["date-received"] = int(received.timestamp())
        meta["date-sent"] = float(int(received.timestamp()) - 5)
    count = f"{len(raw):<10}" if pad else str(len(raw))
    return count.encode() + b"\n" + raw + plistlib.dumps(meta, fmt=plistlib.FMT_XML)


def emlx_path(
    version: Path, mailbox: str, n: int, *, partial: bool = False, deep: bool = False
) -> Path:
    """Where Apple Mail keeps message ``n`` of ``mailbox`` (``A/B``: nested .mbox folders)."""
    box = version / ACCOUNT
    for part in mailbox.split("/"):
        box = box / f"{part}.mbox"
    data = box / MAILBOX_UUID / "Data"
    messages = (data / "0" / "1" if deep else data) / "Messages"
    messages.mkdir(parents=True, exist_ok=True)
    return messages / f"{n}{'.partial' if partial else ''}.emlx"


class AppleMailMailbox(StoreMailbox):
    """A ``~/Library/Mail/V10`` tree: three mailboxes (one nested), plain and partial files,
    plists with and without ``date-received`` (then the file's mtime is the receive time)."""

    SCHEME = "applemail"
    LOCATION = ("Library", "Mail")
    BOXES = ("INBOX", "Salesforce/Tokens", "Archive")

    @property
    def version(self) -> Path:
        return self.path / "V10"

    def _build(self, messages: Sequence[Message]) -> None:
        (self.version / "MailData").mkdir(parents=True)
        (self.version / "MailData" / "Envelope Index").write_bytes(b"SQLite format 3\0")
        (self.version / ACCOUNT / "INBOX.mbox").mkdir(parents=True)  # Mail always has one
        super()._build(messages)

    def add(self, message: Message) -> None:
        n = next(_serial)
        path = emlx_path(self.version, self.BOXES[n % 3], n, partial=n % 2 == 0, deep=n % 4 == 3)
        stamped = None if n % 5 == 4 else message.received
        path.write_bytes(emlx_bytes(message.raw, stamped, pad=n % 2 == 1))
        set_time(path, message.received)


# --- MH ------------------------------------------------------------------------------------


class MhMailbox(StoreMailbox):
    """``~/Mail`` of Claws Mail: inbox, a nested folder and trash, numbered files, Claws'
    ``.claws_mark`` / ``.claws_cache`` in each folder; file mtime = receive time."""

    SCHEME = "mh"
    LOCATION = ("Mail",)
    FOLDERS = ("inbox", "inbox/Salesforce", "trash")

    def _build(self, messages: Sequence[Message]) -> None:
        for folder in self.FOLDERS:
            (self.path / folder).mkdir(parents=True, exist_ok=True)
            (self.path / folder / ".claws_mark").write_bytes(b"\x02\x00\x00\x00")
            (self.path / folder / ".claws_cache").write_bytes(b"\x04\x00\x00\x00")
        (self.path / "folderlist.xml").write_text("<folderlist/>\n")
        super()._build(messages)

    def add(self, message: Message) -> None:
        n = next(_serial)
        path = self.path / self.FOLDERS[n % 3] / str(n)
        path.write_bytes(message.raw)
        set_time(path, message.received)


# --- Outlook .msg ---------------------------------------------------------------------------


def msg_writer_ready() -> None:
    """Skip (locally) or fail (CI=true) unless Node and the MSG writer are installed."""
    node = shutil.which("node")
    module = WRITER / "node_modules" / "@tutao" / "oxmsg"
    if node and module.is_dir():
        return
    why = "the .msg writer is missing: run `npm ci --prefix tests/msgwriter` (make test does)"
    if running_in_ci():
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def write_msg_files(items: Sequence[dict[str, Any]]) -> None:
    """Write ``.msg`` files with the real writer: path, headers, subject, sender, text, html,
    received (ISO 8601 or None), draft."""
    msg_writer_ready()
    subprocess.run(
        ["node", str(WRITER / "write_msg.mjs")],
        input=json.dumps(list(items)).encode(),
        check=True,
        timeout=60,
        capture_output=True,
    )


def msg_item(
    path: Path, raw: bytes, received: datetime | None, *, headers: bool = True
) -> dict[str, Any]:
    """What Outlook keeps of a received mail ``raw``: its header block and its bodies."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    sender = email.utils.parseaddr(str(parsed.get("From", "")))
    return {
        "path": str(path),
        "headers": head + "\n\n" if headers else None,
        "subject": str(parsed.get("Subject", "")),
        "sender": sender[1],
        "senderName": sender[0],
        "to": ["dana@example.com"],
        "text": text.get_content() if text is not None else "",
        "html": html.get_content() if html is not None else "",
        "received": received.astimezone(UTC).isoformat() if received else None,
        "sent": received.astimezone(UTC).isoformat() if received else None,
    }


class MsgMailbox(StoreMailbox):
    """A folder of ``.msg`` files dragged out of Outlook, one subfolder deep; the files'
    mtimes are the copy time (all the same), so only the delivery time orders them."""

    SCHEME = "msg"
    LOCATION = ("saved",)
    COPIED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

    def _build(self, messages: Sequence[Message]) -> None:
        (self.path / "Salesforce").mkdir(parents=True)
        self._write(messages)

    def _write(self, messages: Sequence[Message]) -> None:
        items = []
        for message in messages:
            n = next(_serial)
            where = self.path / ("Salesforce" if n % 2 else "") / f"mail {n}.msg"
            items.append(msg_item(where, message.raw, message.received))
        if items:
            write_msg_files(items)
        for item in items:
            set_time(Path(item["path"]), self.COPIED)

    def add(self, message: Message) -> None:
        self._write([message])
