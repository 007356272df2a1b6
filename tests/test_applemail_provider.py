"""``applemail:`` runs the shared contract on an Apple Mail V10 tree, plus its own cases:
partial files, plist dates, deleted flags, folder names, symlinks, FIFOs and discovery."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from corpus_util import GoldenCorpus
from desktop_stores import ACCOUNT, AppleMailMailbox, StoreFixtures, emlx_bytes, emlx_path, set_time
from inbox_finder.providers.applemail import emlx
from inbox_finder.providers.applemail.discover import discover_applemail

from inbox_finder import ConfigError, find_token, find_tokens
from inbox_finder.boundary.discovery import DISCOVERERS, Places, discover
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.testing import ProviderContract, ScanContract
from inbox_finder.testing.mail import other_mail, spoofed_mail, token_mail

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class AppleMailFixtures(StoreFixtures):
    mailbox_class = AppleMailMailbox


class TestAppleMailContract(AppleMailFixtures, ProviderContract):
    pass


class TestAppleMailGoldenContract(GoldenCorpus, TestAppleMailContract):
    pass


def _store(tmp_path: Path) -> Path:
    version = tmp_path / "Library" / "Mail" / "V10"
    (version / "MailData").mkdir(parents=True)
    return version


def _put(version: Path, box: str, n: int, raw: bytes, when: datetime | None, **kw: object) -> Path:
    flags = int(kw.pop("flags", 0))  # type: ignore[call-overload]
    path = emlx_path(version, box, n, **kw)  # type: ignore[arg-type]
    path.write_bytes(emlx_bytes(raw, when, flags=flags))
    set_time(path, when or T)
    return path


def test_partial_emlx_without_attachment_bodies_yields_its_token(tmp_path: Path) -> None:
    version = _store(tmp_path)
    # Apple Mail's .partial.emlx: the attachment part keeps its headers, not its body.
    raw = (
        b"From: Salesforce <support@salesforce.com>\nTo: dana@example.com\n"
        b"Subject: Your new Salesforce security token\nDate: Sat, 01 Mar 2025 12:00:00 +0000\n"
        b"Message-ID: <partial@sfdc.net>\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
        b"Content-Type: text/plain; charset=utf-8\n\n"
        b"Username: dana@example.com\nSecurity token (case-sensitive): Pa4rT1alT0kenXyz98765Qwe\n"
        b"\n--b1\nContent-Type: application/pdf; name=guide.pdf\n"
        b"Content-Disposition: attachment; filename=guide.pdf\nContent-Transfer-Encoding: base64\n"
        b"X-Apple-Content-Length: 48213\n\n\n--b1--\n"
    )
    _put(version, "INBOX", 7, raw, T, partial=True)
    found = find_token(f"applemail:{version}")
    assert (found.token, found.folder, found.received) == ("Pa4rT1alT0kenXyz98765Qwe", "INBOX", T)


def test_plist_date_received_beats_a_later_date_header(tmp_path: Path) -> None:
    version = _store(tmp_path)
    # The older mail claims (Date) to be the newest; Mail's record says otherwise.
    _put(
        version, "INBOX", 1, token_mail("AaaaaaaaaaaaaaaaaaaaaaaA1", when=T + timedelta(days=9)), T
    )
    _put(
        version, "INBOX", 2, token_mail("BbbbbbbbbbbbbbbbbbbbbbbB2", when=T), T + timedelta(days=1)
    )
    found = find_tokens(f"applemail:{version}")
    assert [f.token for f in found] == ["BbbbbbbbbbbbbbbbbbbbbbbB2", "AaaaaaaaaaaaaaaaaaaaaaaA1"]
    assert [f.received for f in found] == [T + timedelta(days=1), T]
    assert {f.received_source for f in found} == {"delivery-time"}


def test_without_date_received_the_local_store_rule_applies(tmp_path: Path) -> None:
    version = _store(tmp_path)
    # Date 2 h after the file was written: a lying clock, so the mtime is the receive time.
    path = _put(
        version,
        "INBOX",
        1,
        token_mail("CcccccccccccccccccccccccC3", when=T + timedelta(hours=2)),
        None,
    )
    set_time(path, T)
    found = find_token(f"applemail:{version}")
    assert (found.received, found.received_source) == (T, "file-time")
    set_time(path, T + timedelta(hours=3))  # written later: the Date is believed
    found = find_token(f"applemail:{version}")
    assert (found.received, found.received_source) == (T + timedelta(hours=2), "date-header")


@pytest.mark.parametrize(
    ("plist", "received", "deleted"),
    [
        (
            b"<dict><key>date-received</key><real>1740830400.5</real></dict>",
            T + timedelta(seconds=0.5),
            False,
        ),
        (b"<dict>\n\t<key>flags</key>\n\t<integer>8590195715</integer>\n</dict>", None, True),
        (b"<dict><key>date-received</key><integer>99999999999999</integer></dict>", None, False),
        (b"<dict><key>date-received</key><string>today</string></dict>", None, False),
        (b"", None, False),
    ],
)
def test_plist_values(
    tmp_path: Path, plist: bytes, received: datetime | None, deleted: bool
) -> None:
    raw = other_mail(1, T)
    path = tmp_path / "1.emlx"
    path.write_bytes(
        f"{len(raw)}      \n".encode() + raw + b'<?xml version="1.0"?>\n<plist>' + plist
    )
    fd = os.open(path, os.O_RDONLY)
    try:
        meta = emlx.read_meta(fd, str(path))
        assert meta is not None
        assert (meta.received, meta.deleted) == (received, deleted)
        assert emlx.read_message(fd, (meta.start, meta.length), str(path)) == raw
    finally:
        os.close(fd)


def test_deleted_flag_counts_and_is_marked_as_trash(tmp_path: Path) -> None:
    version = _store(tmp_path)
    _put(version, "INBOX", 1, token_mail("DddddddddddddddddddddddD4", when=T), T, flags=0b11)
    found = find_token(f"applemail:{version}")
    assert (found.token, found.folder, found.folder_role) == (
        "DddddddddddddddddddddddD4",
        "INBOX",
        "trash",
    )


def test_nested_mailboxes_and_accounts_name_folders(tmp_path: Path) -> None:
    version = _store(tmp_path)
    _put(version, "Salesforce/Tokens", 1, token_mail("EeeeeeeeeeeeeeeeeeeeeeeE5", when=T), T)
    _put(version, "INBOX", 2, other_mail(1, T), T)
    other = version / "IMAP-dana@mail.example.com" / "INBOX.mbox" / "Messages"
    other.mkdir(parents=True)
    (other / "3.emlx").write_bytes(emlx_bytes(other_mail(2, T), T))
    with open_provider(f"applemail:{version}") as provider:
        names = sorted(f.name for f in provider.folders())  # type: ignore[attr-defined]
    assert names == [
        f"{ACCOUNT}/INBOX",
        "IMAP-dana@mail.example.com/INBOX",
        "Salesforce",
        "Salesforce/Tokens",
    ]
    found = find_token(f"applemail:{version}", folders=["salesforce/tokens"])
    assert (found.token, found.folder) == ("EeeeeeeeeeeeeeeeeeeeeeeE5", "Salesforce/Tokens")


def test_newest_version_folder_is_searched(tmp_path: Path) -> None:
    mail = tmp_path / "Library" / "Mail"
    _put(
        mail / "V9",
        "INBOX",
        1,
        token_mail("OldVersionT0kenAaaaaaaaa9", when=T + timedelta(days=1)),
        T + timedelta(days=1),
    )
    _put(mail / "V10", "INBOX", 1, token_mail("NewVersionT0kenBbbbbbbb10", when=T), T)
    assert find_token(f"applemail:{mail}").token == "NewVersionT0kenBbbbbbbb10"
    assert find_token(f"applemail:{mail / 'V9'}").token == "OldVersionT0kenAaaaaaaaa9"


def test_default_store_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _put(_store(tmp_path), "INBOX", 1, token_mail("HomeStoreT0kenCcccccccc11", when=T), T)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_token("applemail:").token == "HomeStoreT0kenCcccccccc11"


def test_spoof_in_store_is_rejected(tmp_path: Path) -> None:
    version = _store(tmp_path)
    _put(
        version,
        "Junk",
        1,
        spoofed_mail("SpoofT0kenDdddddddddddd12", when=T),
        T + timedelta(hours=1),
    )
    _put(version, "INBOX", 2, token_mail("RealT0kenEeeeeeeeeeeeeee13", when=T), T)
    assert [f.token for f in find_tokens(f"applemail:{version}")] == ["RealT0kenEeeeeeeeeeeeeee13"]


def test_symlinks_out_of_the_store_and_fifos_are_not_opened(tmp_path: Path) -> None:
    version = _store(tmp_path)
    messages = emlx_path(version, "INBOX", 1).parent
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "9.emlx").write_bytes(
        emlx_bytes(token_mail("OutsideT0kenFfffffffffff14", when=T), T)
    )
    (messages / "9.emlx").symlink_to(outside / "9.emlx")
    (version / ACCOUNT / "Linked.mbox").symlink_to(outside, target_is_directory=True)
    os.mkfifo(messages / "5.emlx")  # opening it for reading would block
    _put(
        version,
        "INBOX",
        2,
        token_mail("InsideT0kenGggggggggggggg15", when=T - timedelta(days=1)),
        T - timedelta(days=1),
    )
    assert [f.token for f in find_tokens(f"applemail:{version}")] == ["InsideT0kenGggggggggggggg15"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("applemail:/nonexistent/Mail", "not found"),
        ("applemail:{tmp}", "no .mbox folders"),
        ("applemail:{file}", "not a directory"),
    ],
)
def test_bad_sources_are_config_errors(tmp_path: Path, url: str, message: str) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=message):
        open_provider(url.format(tmp=tmp_path, file=tmp_path / "f"), SourceOptions())


def test_search_reads_no_message_body(tmp_path: Path) -> None:
    version = _store(tmp_path)
    body = b"x" * 200_000
    _put(version, "INBOX", 1, other_mail(1, T) + body, T)
    with open_provider(f"applemail:{version}") as provider:
        (candidate,) = provider.search(Query(sender_domains=()))
        assert candidate.headers is None or len(candidate.headers) < 20_000
        assert provider.fetch(candidate).endswith(body)


def _home_store(home: Path) -> Path:
    version = home / "Library" / "Mail" / "V10"
    _put(version, "INBOX", 1, token_mail("DiscoveredT0kenHhhhhhhh16", when=T), T)
    _put(version, "Archive", 2, other_mail(3, T), T, partial=True)
    return version


def test_discoverer_finds_the_store_on_darwin_only(tmp_path: Path) -> None:
    version = _home_store(tmp_path)
    stores = list(discover_applemail(Places(home=tmp_path, platform="darwin")))
    assert [(s.url, s.client, s.size, s.size_unit) for s in stores] == [
        (f"applemail:{version}", "Apple Mail", 2, "messages")
    ]
    assert list(discover_applemail(Places(home=tmp_path, platform="linux"))) == []
    assert find_token(stores[0].url).token == "DiscoveredT0kenHhhhhhhh16"


def test_discoverer_is_listed_and_ignores_a_symlinked_store(tmp_path: Path) -> None:
    assert "inbox_finder.providers.applemail.discover:discover_applemail" in DISCOVERERS
    elsewhere = tmp_path / "elsewhere"
    _home_store(elsewhere)
    home = tmp_path / "home"
    (home / "Library").mkdir(parents=True)
    (home / "Library" / "Mail").symlink_to(elsewhere / "Library" / "Mail")
    assert [
        s for s in discover(Places(home=home, platform="darwin")) if s.client == "Apple Mail"
    ] == []
    assert list(discover_applemail(Places(home=tmp_path / "nobody", platform="darwin"))) == []


class TestAppleMailScanContract(AppleMailFixtures, ScanContract):
    pass
