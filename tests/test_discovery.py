"""Discovery: the shared safe walk, the shapes that keep clients from claiming each other's
stores under ~/Mail, and the Evolution and mutt discoverers on fake homes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from desktop_homes import day, maildir_file, tb_entry, write
from inbox_finder.providers.local.discover import evolution_stores, mutt_stores

from inbox_finder.boundary.discovery import (
    Places,
    Store,
    discover,
    entries,
    read_small,
    shape,
    walk_files,
)
from inbox_finder.testing.mail import token_mail

MBOX = tb_entry(token_mail("Pp1Oo2Ii3Uu4Yy5Tt6Rr7Ee8W", when=day(3)), day(3))


def rows(stores: Iterator[Store] | list[Store]) -> list[tuple[str, str, int | None, str]]:
    return [(s.url, s.client, s.size, s.size_unit) for s in stores]


def mh_folder(folder: Path, count: int = 2) -> None:
    """An MH folder as Claws Mail or nmh write it: numbered files, .mh_sequences."""
    for n in range(1, count + 1):
        write(folder / str(n), token_mail("Mm1Nn2Bb3Vv4Cc5Xx6Zz7Ll8K", when=day(n)))
    write(folder / ".mh_sequences", b"unseen: 2\n")


def test_entries_keep_dirs_and_regular_files_inside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside / "secret", b"x")
    write(root / "a", b"abc")
    (root / "d").mkdir()
    (root / "in").symlink_to(root / "a")
    (root / "out").symlink_to(outside / "secret")
    (root / "outdir").symlink_to(outside, target_is_directory=True)
    (root / "dangling").symlink_to(root / "nothing")
    os.mkfifo(root / "fifo")
    got = [(e.name, e.kind, e.size) for e in entries(root)]
    assert got == [("a", "file", 3), ("d", "dir", 0), ("in", "file", 3)]
    assert read_small(root / "fifo") is None  # would block if opened for reading
    assert read_small(root / "out", root) is None
    assert read_small(root / "in", root) == b"abc"
    assert read_small(root / "a", root, limit=2) == b"ab"
    assert entries(tmp_path / "missing") == []


def test_walk_files_stays_inside_and_visits_each_directory_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "x" / "y" / "m", b"1")
    (root / "x" / "loop").symlink_to(root, target_is_directory=True)  # back into the tree
    (root / "away").symlink_to(tmp_path, target_is_directory=True)
    found = sorted(str(d.relative_to(root) / e.name) for d, e in walk_files(root))
    assert found == ["x/y/m"]


def test_shape_tells_maildir_mh_and_mbox_apart(tmp_path: Path) -> None:
    maildir_file(tmp_path / "md" / "inbox", MBOX, day(1), 1)
    mh_folder(tmp_path / "mh" / "inbox")
    write(tmp_path / "mbox" / "inbox", MBOX)
    write(tmp_path / "mbox" / "notes.txt", b"not mail")
    mh_folder(tmp_path / "mixed" / "claws")
    maildir_file(tmp_path / "mixed" / "mutt", MBOX, day(1), 2)
    assert shape(tmp_path / "md") == {"maildir"}
    assert shape(tmp_path / "mh") == {"mh"}
    assert shape(tmp_path / "mbox") == {"mbox"}
    assert shape(tmp_path / "mixed") == {"mh", "maildir"}
    assert shape(tmp_path / "missing") == frozenset()
    write(tmp_path / "years" / "2024", MBOX)  # mbox archives named by year are no MH
    write(tmp_path / "years" / "2025", MBOX)
    assert shape(tmp_path / "years") == {"mbox"}


@pytest.mark.parametrize(
    ("layout", "claimed"),
    [("maildir", "maildir"), ("mbox", "mbox"), ("mh", None), ("mixed", "maildir")],
)
def test_mutt_claims_only_maildir_or_mbox_under_mail(
    tmp_path: Path, layout: str, claimed: str | None
) -> None:
    mail = tmp_path / "Mail"
    if layout in ("maildir", "mixed"):
        maildir_file(mail / "inbox", MBOX, day(1), 1)
    if layout in ("mh", "mixed"):
        mh_folder(mail / "claws-inbox", 3)  # Claws Mail's MH folders: the mh: discoverer's
    if layout == "mbox":
        write(mail / "inbox", MBOX)
        write(mail / "sent", MBOX + MBOX)
    got = rows(mutt_stores(Places(tmp_path, {}, "linux")))
    if claimed is None:
        assert got == []
    elif claimed == "maildir":
        assert got == [(f"maildir:{mail}", "mutt", 1, "messages")]  # the MH files not counted
    else:
        assert got == [(f"mbox:{mail}", "mutt", 3 * len(MBOX), "bytes")]


def test_mutt_spool_maildir_and_mbox_each_listed_once(tmp_path: Path) -> None:
    spool = write(tmp_path / "var" / "mail" / "dana", MBOX)
    maildir_file(tmp_path / "Maildir", MBOX, day(1), 1)
    write(tmp_path / "mbox", MBOX)
    write(tmp_path / "var" / "mail" / "empty", b"")
    places = Places(tmp_path, {"MAIL": str(spool)}, "linux")
    got = rows(mutt_stores(places))
    assert got == [
        (f"mbox:{spool}", "mutt", len(MBOX), "bytes"),
        (f"maildir:{tmp_path / 'Maildir'}", "mutt", 1, "messages"),
        (f"mbox:{tmp_path / 'mbox'}", "mutt", len(MBOX), "bytes"),
    ]
    # $MAIL naming ~/Maildir: the same store, listed once by discover().
    same = Places(tmp_path, {"MAIL": str(tmp_path / "Maildir")}, "linux")
    stores = discover(same, ["inbox_finder.providers.local.discover:mutt_stores"])
    assert [s.url for s in stores] == [
        f"maildir:{tmp_path / 'Maildir'}",
        f"mbox:{tmp_path / 'mbox'}",
    ]
    # An empty spool file or a relative $MAIL is no store.
    for value in (str(tmp_path / "var" / "mail" / "empty"), "var/mail/dana"):
        assert rows(mutt_stores(Places(tmp_path / "nohome", {"MAIL": value}, "linux"))) == []


def test_evolution_maildir_xdg_data_home_and_legacy_mbox(tmp_path: Path) -> None:
    data = tmp_path / "data"
    local = data / "evolution" / "mail" / "local"
    maildir_file(local, MBOX, day(1), 1)
    maildir_file(local / ".Salesforce", MBOX, day(2), 2)
    maildir_file(local / ".Salesforce.Old", MBOX, day(3), 3)
    legacy = tmp_path / ".evolution" / "mail" / "local"
    write(legacy / "Inbox", MBOX)
    write(legacy / "Inbox.ev-summary", b"summary")
    write(legacy / "Inbox.cmeta", b"meta")
    got = rows(evolution_stores(Places(tmp_path, {"XDG_DATA_HOME": str(data)}, "linux")))
    assert got == [
        (f"maildir:{local}", "Evolution", 3, "messages"),
        (f"mbox:{legacy}", "Evolution", len(MBOX), "bytes"),
    ]
    # Without XDG_DATA_HOME: ~/.local/share.
    assert rows(evolution_stores(Places(tmp_path, {}, "linux"))) == got[1:]


def broken_discoverer(places: Places) -> Iterator[Store]:
    """A client directory that cannot be read (yields one store, then fails)."""
    yield Store("mbox:/first", "broken", Path("/first"))
    raise PermissionError(13, "Permission denied", str(places.home))


def test_a_broken_discoverer_does_not_hide_the_others(tmp_path: Path) -> None:
    maildir_file(tmp_path / "Maildir", MBOX, day(1), 1)
    stores = discover(
        Places(tmp_path, {}, "linux"),
        [
            "test_discovery:broken_discoverer",
            "inbox_finder.providers.local.discover:mutt_stores",
        ],
    )
    assert [s.url for s in stores] == ["mbox:/first", f"maildir:{tmp_path / 'Maildir'}"]
