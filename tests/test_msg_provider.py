"""``msg:`` runs the shared contract on folders of ``.msg`` files written by a real MSG writer
(@tutao/oxmsg, see desktop_stores.py), plus its own cases: trust, drafts, delivery time,
broken files, the missing extra, symlinks, FIFOs and discovery."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from corpus_util import GoldenCorpus
from desktop_stores import (
    MsgMailbox,
    StoreFixtures,
    msg_item,
    msg_writer_ready,
    set_time,
    write_msg_files,
)
from inbox_finder.providers.msg import mapi
from inbox_finder.providers.msg import provider as msg_provider
from inbox_finder.providers.msg.discover import discover_msg

from inbox_finder import NotFoundError, find_token, find_tokens
from inbox_finder.boundary.discovery import DISCOVERERS, Places
from inbox_finder.boundary.provider import Provider, Query
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.testing import (
    ContractMail,
    ProviderContract,
    ScanContract,
)
from inbox_finder.testing.contract import message_id
from inbox_finder.testing.mail import other_mail, spoofed_mail, token_mail

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AR_PASS = (
    b"Authentication-Results: mx.google.com;\n       dkim=pass header.i=@salesforce.com;\n"
    b"       dmarc=pass (p=REJECT) header.from=salesforce.com\n"
)


@pytest.fixture(autouse=True)
def _writer() -> None:
    msg_writer_ready()


class MsgFixtures(StoreFixtures):
    mailbox_class = MsgMailbox


class TestMsgScanContract(MsgFixtures, ScanContract):
    pass


class TestMsgContract(MsgFixtures, ProviderContract):
    def test_fetch_returns_the_delivered_bytes(
        self, provider: Provider, contract_mails: list[ContractMail]
    ) -> None:
        """A .msg keeps the delivered headers and the decoded bodies, not the MIME bytes:
        the headers must be the delivered ones and the text the delivered text."""
        by_id = {m.message_id: m for m in contract_mails}
        seen = set()
        for candidate in provider.search(Query(sender_domains=())):
            raw = provider.fetch(candidate)
            mid = message_id(raw)
            assert mid in by_id, candidate.ref
            got, want = _parsed(raw), _parsed(by_id[mid].raw)
            for field in ("From", "To", "Subject", "Date", "Message-ID", "Authentication-Results"):
                assert got.get_all(field) == want.get_all(field), (field, by_id[mid].name)
            for kind in ("plain", "html"):
                assert _body(got, kind) == _body(want, kind), (kind, by_id[mid].name)
            seen.add(mid)
        assert seen == set(by_id)


def _parsed(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _body(message: EmailMessage, kind: str) -> str | None:
    part = message.get_body((kind,))
    return None if part is None else part.get_content().replace("\r\n", "\n").strip()


def _write(folder: Path, mails: Sequence[tuple[str, bytes, datetime | None]], **kw: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_msg_files([msg_item(folder / name, raw, when, **kw) for name, raw, when in mails])


def test_real_mail_wins_over_look_alikes_and_spoofs(tmp_path: Path) -> None:
    real = AR_PASS + token_mail("RealMsgT0kenAaaaaaaaaaaa1", when=T)
    lookalike = token_mail(
        "LookAlikeT0kenBbbbbbbbbb2", when=T + timedelta(hours=1),
        sender="support@salesforce.com.evil.example",
        subject="Your security token was reset",
    )  # fmt: skip
    spoof = spoofed_mail("SpoofMsgT0kenCcccccccccc3", when=T + timedelta(hours=2))
    _write(tmp_path / "saved", [("real.msg", real, T), ("lookalike.msg", lookalike, T + timedelta(hours=1)),
                                ("spoof.msg", spoof, T + timedelta(hours=2))])  # fmt: skip
    found = find_tokens(f"msg:{tmp_path / 'saved'}")
    assert [f.token for f in found] == ["RealMsgT0kenAaaaaaaaaaaa1"]
    assert (found[0].received, found[0].received_source) == (T, "delivery-time")
    assert "dmarc=pass" in found[0].trust


def test_newest_by_delivery_time_wins_whatever_the_file_times(tmp_path: Path) -> None:
    older = token_mail("OlderMsgT0kenDddddddddddd4", when=T + timedelta(days=5))  # Date lies
    newer = token_mail("NewerMsgT0kenEeeeeeeeeeee5", when=T)
    _write(tmp_path, [("a.msg", older, T), ("b.msg", newer, T + timedelta(days=1))])
    set_time(tmp_path / "a.msg", T + timedelta(days=30))  # dragged out of Outlook later
    set_time(tmp_path / "b.msg", T - timedelta(days=30))
    found = find_tokens(f"msg:{tmp_path}")
    assert [f.token for f in found] == ["NewerMsgT0kenEeeeeeeeeeee5", "OlderMsgT0kenDddddddddddd4"]
    assert [f.received for f in found] == [T + timedelta(days=1), T]


def test_without_delivery_time_the_local_store_rule_applies(tmp_path: Path) -> None:
    _write(tmp_path, [("a.msg", token_mail("NoDeliveryT0kenFffffffff6", when=T), None)])
    set_time(tmp_path / "a.msg", T + timedelta(hours=1))
    found = find_token(f"msg:{tmp_path}")
    assert (found.received, found.received_source) == (T, "date-header")


def test_a_msg_without_transport_headers_is_never_a_candidate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Saved before sending (or composed by any program): nothing proves who sent it.
    draft = token_mail("DraftMsgT0kenGggggggggggg7", when=T + timedelta(days=1))
    real = token_mail("SentMsgT0kenHhhhhhhhhhhhh8", when=T)
    _write(tmp_path, [("draft.msg", draft, T + timedelta(days=1))], headers=False)
    _write(tmp_path, [("real.msg", real, T)])
    caplog.set_level("INFO")
    assert [f.token for f in find_tokens(f"msg:{tmp_path}")] == ["SentMsgT0kenHhhhhhhhhhhhh8"]
    assert "skip draft.msg: no transport headers" in caplog.text
    with open_provider(f"msg:{tmp_path}") as provider:
        assert [c.ref for c in provider.search(Query(sender_domains=()))] == ["real.msg"]


def test_broken_and_foreign_files_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, [("real.msg", token_mail("SurvivorT0kenIiiiiiiiiiii9", when=T), T)])
    (tmp_path / "empty.msg").write_bytes(b"")
    (tmp_path / "text.msg").write_bytes(b"From: support@salesforce.com\n\nnot an Outlook file\n")
    whole = (tmp_path / "real.msg").read_bytes()
    (tmp_path / "cut.msg").write_bytes(whole[: len(whole) // 3])
    assert find_token(f"msg:{tmp_path}").token == "SurvivorT0kenIiiiiiiiiiii9"
    assert "skip text.msg: not a readable Outlook message" in caplog.text


def test_symlinks_out_of_the_folder_and_fifos_are_not_opened(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _write(
        outside,
        [
            (
                "x.msg",
                token_mail("OutsideMsgT0kenJjjjjjjj10", when=T + timedelta(days=1)),
                T + timedelta(days=1),
            )
        ],
    )
    saved = tmp_path / "saved"
    _write(saved, [("in.msg", token_mail("InsideMsgT0kenKkkkkkkkk11", when=T), T)])
    (saved / "link.msg").symlink_to(outside / "x.msg")
    (saved / "linked").symlink_to(outside, target_is_directory=True)
    os.mkfifo(saved / "pipe.msg")  # opening it for reading would block
    assert [f.token for f in find_tokens(f"msg:{saved}")] == ["InsideMsgT0kenKkkkkkkkk11"]


def test_missing_extra_is_a_one_line_usage_error(tmp_path: Path) -> None:
    # An interpreter where olefile cannot be imported, as without the outlook extra.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "olefile.py").write_text("raise ImportError(\"No module named 'olefile'\")\n")
    env = {**os.environ, "PYTHONPATH": str(shim)}
    done = subprocess.run(
        [sys.executable, "-m", "inbox_finder", "find", f"msg:{tmp_path}"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"inbox-finder: error: {mapi.INSTALL_HINT}"]
    assert done.stdout == ""


def test_cli_finds_the_token_in_a_msg_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, [("t.msg", AR_PASS + token_mail("CliMsgT0kenLllllllllllll12", when=T), T)])
    assert main(["find", f"msg:{tmp_path}", "-q"]) == 0
    assert capsys.readouterr().out == "CliMsgT0kenLllllllllllll12\n"
    assert main(["find", f"msg:{tmp_path / 't.msg'}"]) == 2
    assert "folder of .msg files" in capsys.readouterr().err


def test_discoverer_lists_drop_folders_holding_msg_files(tmp_path: Path) -> None:
    _write(tmp_path / "Downloads", [("a.msg", other_mail(1, T), T)])
    _write(
        tmp_path / "Documents" / "Outlook",
        [("b.msg", other_mail(2, T), T), ("c.msg", other_mail(3, T), T)],
    )
    (tmp_path / "Documents" / "Outlook" / "deeper").mkdir()
    _write(tmp_path / "Documents" / "Outlook" / "deeper" / "more", [("d.msg", other_mail(4, T), T)])
    (tmp_path / "Desktop").mkdir()
    (tmp_path / "Desktop" / "notes.txt").write_text("x")
    os.mkfifo(tmp_path / "Desktop" / "pipe.msg")
    (tmp_path / "Desktop" / "link").symlink_to(tmp_path / "Downloads", target_is_directory=True)
    stores = list(discover_msg(Places(home=tmp_path)))
    assert [(s.path, s.size, s.client) for s in stores] == [
        (tmp_path / "Documents" / "Outlook", 2, "Outlook (.msg files)"),
        (tmp_path / "Downloads", 1, "Outlook (.msg files)"),
    ]
    assert "inbox_finder.providers.msg.discover:discover_msg" in DISCOVERERS
    assert [f.folder for f in find_tokens(stores[0].url)] == []


def test_verify_dkim_rejects_a_msg(tmp_path: Path) -> None:
    # Outlook keeps the decoded bodies, not the signed bytes: no signature can verify.
    _write(tmp_path, [("t.msg", AR_PASS + token_mail("DkimMsgT0kenNnnnnnnnnnnn14", when=T), T)])
    assert find_token(f"msg:{tmp_path}").token == "DkimMsgT0kenNnnnnnnnnnnn14"
    with pytest.raises(NotFoundError):
        find_token(f"msg:{tmp_path}", verify_dkim=True)


def test_property_stream_layout_is_read_as_documented(tmp_path: Path) -> None:
    _write(tmp_path, [("t.msg", token_mail("LayoutT0kenMmmmmmmmmmmm13", when=T), T)])
    with (tmp_path / "t.msg").open("rb") as fh:
        parts = mapi.read_parts(fh)
    assert parts.delivered == T
    assert (
        parts.headers is not None and "Subject: Your new Salesforce security token" in parts.headers
    )
    assert parts.body is not None and "LayoutT0kenMmmmmmmmmmmm13" in parts.body


class TestMsgGoldenContract(GoldenCorpus, TestMsgContract):
    pass


def test_rebuilt_message_keeps_headers_and_replaces_the_mime_structure() -> None:
    parts = mapi.MsgParts(
        headers=(
            "From: Salesforce <support@salesforce.com>\r\nSubject: Your new Salesforce security"
            ' token\r\nContent-Type: multipart/related;\r\n\tboundary="orig"\r\nMIME-Version:'
            " 1.0\r\nDate: Sat, 01 Mar 2025 12:00:00 +0000\r\n\r\n"
        ),
        delivered=T,
        body=f"Username: dana@example.com\nsee --{msg_provider.BOUNDARY}\n",
        html="<p>Username: dana@example.com</p>",
    )
    raw = msg_provider.to_rfc822(parts)
    parsed = _parsed(raw)
    assert parsed["Date"] == "Sat, 01 Mar 2025 12:00:00 +0000"
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_param("boundary") != msg_provider.BOUNDARY  # the body holds that one
    assert b"orig" not in raw and raw.count(b"MIME-Version") == 1
    assert _body(parsed, "plain") == f"Username: dana@example.com\nsee --{msg_provider.BOUNDARY}"
    assert _body(parsed, "html") == "<p>Username: dana@example.com</p>"
