"""``mh:`` runs the shared contracts on MH folders in Claws Mail's layout, plus its own cases:
read-only (bytes and mtimes unchanged), deleted ``,N`` files, symlinks, FIFOs, discovery."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from corpus_util import GoldenCorpus
from desktop_stores import MhMailbox, StoreFixtures, set_time, tree_state
from inbox_finder.providers.mh.discover import discover_mh

from inbox_finder import ConfigError, find_token, find_tokens
from inbox_finder.boundary.discovery import DISCOVERERS, Places, discover
from inbox_finder.boundary.registry import open_provider
from inbox_finder.testing import Message, ProviderContract, ScanContract
from inbox_finder.testing.mail import other_mail, token_mail

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class MhFixtures(StoreFixtures):
    mailbox_class = MhMailbox


class TestMhContract(MhFixtures, ProviderContract):
    pass


class TestMhGoldenContract(GoldenCorpus, TestMhContract):
    pass


class TestMhScanContract(MhFixtures, ScanContract):
    pass


def _nmh_tree(home: Path) -> Path:
    """An nmh tree: ``.mh_profile`` names ``Mail``; inbox holds sequences and a deleted file."""
    mail = home / "Mail"
    (mail / "inbox").mkdir(parents=True)
    (home / ".mh_profile").write_text("Path: Mail\nUnseen-Sequence: unseen\n")
    (mail / "context").write_text("Current-Folder: inbox\n")
    (mail / "inbox" / ".mh_sequences").write_text("unseen: 2\ncur: 1\n")
    for n, (token, days) in enumerate(
        [("NmhOlderT0kenAaaaaaaaaaa1", 3), ("NmhNewerT0kenBbbbbbbbbbb2", 1)], 1
    ):
        path = mail / "inbox" / str(n)
        path.write_bytes(token_mail(token, when=T - timedelta(days=days)))
        set_time(path, T - timedelta(days=days))
    # nmh's rmm renames a deleted message to ,N: it is gone from the folder.
    gone = mail / "inbox" / ",3"
    gone.write_bytes(token_mail("DeletedT0kenCcccccccccccc3", when=T))
    set_time(gone, T)
    return mail


def test_search_changes_nothing_in_the_tree(tmp_path: Path) -> None:
    mail = _nmh_tree(tmp_path)
    before = tree_state(mail)
    assert find_token(f"mh:{mail}").token == "NmhNewerT0kenBbbbbbbbbbb2"
    assert len(find_tokens(f"mh:{mail}", folders=["inbox"])) == 2
    with open_provider(f"mh:{mail}") as provider:
        provider.sync_cursor()
    assert tree_state(mail) == before
    assert not (mail / "inbox" / ".mh_sequences.lock").exists()


def test_deleted_and_hidden_files_are_not_messages(tmp_path: Path) -> None:
    mail = _nmh_tree(tmp_path)
    found = find_tokens(f"mh:{mail}")
    assert [f.token for f in found] == ["NmhNewerT0kenBbbbbbbbbbb2", "NmhOlderT0kenAaaaaaaaaaa1"]
    assert {f.folder for f in found} == {"inbox"}


def test_symlinks_out_of_the_tree_and_fifos_are_not_opened(tmp_path: Path) -> None:
    mail = _nmh_tree(tmp_path / "home")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "7").write_bytes(token_mail("OutsideT0kenDdddddddddddd4", when=T))
    (mail / "inbox" / "7").symlink_to(outside / "7")
    (mail / "linked").symlink_to(outside, target_is_directory=True)
    os.mkfifo(mail / "inbox" / "8")  # opening it for reading would block
    assert find_token(f"mh:{mail}").token == "NmhNewerT0kenBbbbbbbbbbb2"


def test_bad_sources_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not found"):
        open_provider(f"mh:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match="must be an MH folder"):
        open_provider(f"mh:{tmp_path / 'file'}")


def test_discoverer_claims_claws_mail_and_nmh_trees(tmp_path: Path) -> None:
    claws = MhMailbox(tmp_path, [Message(other_mail(1, T), T), Message(other_mail(2, T), T)])
    stores = list(discover_mh(Places(home=tmp_path)))
    assert [(s.url, s.client, s.size, s.size_unit) for s in stores] == [
        (f"mh:{claws.path}", "MH (nmh, Claws Mail)", 2, "messages")
    ]
    assert "inbox_finder.providers.mh.discover:discover_mh" in DISCOVERERS
    assert [s.path for s in discover(Places(home=tmp_path)) if s.url.startswith("mh:")] == [
        claws.path
    ]


def test_discoverer_follows_the_nmh_profile_path(tmp_path: Path) -> None:
    mail = _nmh_tree(tmp_path)
    mail.rename(tmp_path / "nmhmail")
    (tmp_path / ".mh_profile").write_text("Path: nmhmail\n")
    (stores,) = [list(discover_mh(Places(home=tmp_path)))]
    assert [(s.path, s.size) for s in stores] == [(tmp_path / "nmhmail", 2)]
    (tmp_path / "profile").write_text(f"path: {tmp_path / 'nmhmail'}\n")
    env = {"MH": str(tmp_path / "profile")}
    assert [s.path for s in discover_mh(Places(home=tmp_path / "nohome", env=env))] == [
        tmp_path / "nmhmail"
    ]


def test_discoverer_leaves_maildir_and_mbox_trees_alone(tmp_path: Path) -> None:
    mail = tmp_path / "Mail"
    for sub in ("cur", "new", "tmp"):
        (mail / "INBOX" / sub).mkdir(parents=True)
    (mail / "INBOX" / "cur" / "1714554000.M1P1.host:2,S").write_bytes(other_mail(1, T))
    # mutt users name yearly mbox archives by number: not MH message files.
    (mail / "2024").write_bytes(b"From MAILER-DAEMON Sat Mar  1 12:00:00 2025\n" + other_mail(2, T))
    (mail / "archive").mkdir()
    (mail / "archive" / "2023").write_bytes(
        b"From MAILER-DAEMON Sat Mar  1 12:00:00 2025\n" + other_mail(3, T)
    )
    assert list(discover_mh(Places(home=tmp_path))) == []


def test_discoverer_ignores_symlinks_and_fifos(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    MhMailbox(elsewhere, [Message(other_mail(1, T), T)])
    home = tmp_path / "home"
    (home / "Mail").mkdir(parents=True)
    (home / "Mail" / "inbox").symlink_to(elsewhere / "Mail" / "inbox", target_is_directory=True)
    (home / "Mail" / "drafts").mkdir()
    os.mkfifo(home / "Mail" / "drafts" / "1")  # a numbered FIFO: never opened, no MH shape
    os.mkfifo(home / ".mh_profile")
    assert list(discover_mh(Places(home=home))) == []
