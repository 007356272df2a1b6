"""Local mail trees: Maildir++ and fs-layout folders, recursive eml, mbox directories, and
entries a walk must never open (FIFOs, devices, directories, dangling symlinks, symlinks out
of the tree) or lose (a file moved from new/ to cur/ while we read)."""

from __future__ import annotations

import json
import mailbox
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from inbox_finder.providers.local import walk

from inbox_finder import FolderNotFoundError, find_token, find_tokens
from inbox_finder.boundary.folders import IteratorStream, merge_newest
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.cli.output import human
from inbox_finder.engine import merge_copies
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.model import Candidate, Finding, FolderRole
from inbox_finder.testing.mail import new_token, token_mail

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def deliver(folder: Path, raw: bytes, when: datetime, sub: str = "new", name: str = "") -> Path:
    """Write one Maildir file named for its delivery time (``sub``: new or cur)."""
    for part in ("cur", "new", "tmp"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    stamp = int(when.timestamp())
    path = (
        folder
        / sub
        / (name or f"{stamp}.M{new_token(8)}P1.host" + (":2,S" if sub == "cur" else ""))
    )
    path.write_bytes(raw)
    os.utime(path, (stamp, stamp))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ---------------------------------------------------------------- the reported case


def test_the_newer_token_in_a_maildir_subfolder_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md = mailbox.Maildir(tmp_path / "md", create=True)
    old, new = "OLDoldOLDoldOLDoldOLDold1", "NEWnewNEWnewNEWnewNEWnew2"
    md.add(mailbox.MaildirMessage(token_mail(old, when=datetime(2026, 1, 1, tzinfo=UTC))))
    folder = md.add_folder("Salesforce")
    folder.add(mailbox.MaildirMessage(token_mail(new, when=datetime(2026, 11, 1, tzinfo=UTC))))
    assert run(capsys, "find", f"maildir:{tmp_path / 'md'}", "-q")[:2] == (0, new + "\n")
    code, out, _ = run(capsys, "find", f"maildir:{tmp_path / 'md'}")
    assert code == 0 and "Folder:    Salesforce" in out
    code, out, _ = run(capsys, "find", f"maildir:{tmp_path / 'md'}", "--folder", "INBOX", "-q")
    assert (code, out) == (0, old + "\n")


# ---------------------------------------------------------------- Maildir trees


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """INBOX, Maildir++ .Salesforce and .Archive.2026 (modified UTF-7 too), .Trash, .Junk
    (a spoof), and nested fs-layout folders Projects/Acme."""
    root = tmp_path / "Maildir"
    t = {k: new_token() for k in ("inbox", "sf", "arch", "trash", "acme", "utf7")}
    deliver(root, token_mail(t["inbox"], when=T0 - 10 * DAY), T0 - 10 * DAY, "cur")
    deliver(root / ".Salesforce", token_mail(t["sf"], when=T0 - 5 * DAY), T0 - 5 * DAY)
    arch = token_mail(t["arch"], "ops@example.com", T0 - 4 * DAY)
    deliver(root / ".Archive.2026", arch, T0 - 4 * DAY, "cur")
    deliver(root / ".Trash", token_mail(t["trash"], when=T0 - DAY), T0 - DAY, "cur")
    spoof = b"Authentication-Results: mx.google.com; dmarc=fail\n" + token_mail(new_token())
    deliver(root / ".Junk", spoof, T0 + DAY)
    acme = token_mail(t["acme"], "acme@example.com", T0 - 2 * DAY)
    deliver(root / "Projects" / "Acme", acme, T0 - 2 * DAY)  # fs layout, parent no Maildir
    utf7 = token_mail(t["utf7"], "uat@example.com", T0 - 3 * DAY)
    deliver(root / ".Ablage &ANw-berf&AOQ-llig", utf7, T0 - 3 * DAY)
    return root, t


def test_maildir_folders_are_listed_and_named(tree: tuple[Path, dict[str, str]]) -> None:
    root, _ = tree
    with open_provider(f"maildir:{root}") as provider:
        names = [f.name for f in provider.folders()]  # type: ignore[attr-defined]
    assert names == [
        "INBOX",
        "Ablage Überfällig",
        "Archive/2026",
        "Junk",
        "Salesforce",
        "Trash",
        "Projects/Acme",
    ]


def test_maildir_newest_per_username_across_folders(
    tree: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, t = tree
    code, out, _ = run(capsys, "find", f"maildir:{root}", "--per-username", "--json")
    got = {d["username"]: (d["token"], d["folder"], d["folder_role"]) for d in json.loads(out)}
    assert code == 0
    assert got == {
        "dana@example.com": (t["trash"], "Trash", "trash"),  # the Junk spoof is newer: rejected
        "acme@example.com": (t["acme"], "Projects/Acme", None),
        "uat@example.com": (t["utf7"], "Ablage Überfällig", None),
        "ops@example.com": (t["arch"], "Archive/2026", None),
    }
    code, out, _ = run(capsys, "find", f"maildir:{root}")
    assert "Folder:    Trash" in out and "deleted" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--folder", "Salesforce"), "sf"),
        (("--folder", "archive/2026"), "arch"),  # case-insensitive
        (("--folder", "Archive.2026"), "arch"),  # the Maildir++ spelling
        (("--exclude-folder", "Trash"), "acme"),
        (("--exclude-folder", "Trash", "--exclude-folder", "Projects/Acme"), "utf7"),
    ],
)
def test_maildir_folder_options(
    tree: tuple[Path, dict[str, str]], args: tuple[str, ...], expected: str
) -> None:
    root, t = tree
    found = find_token(f"maildir:{root}", folders=args[1::2] if args[0] == "--folder" else (),
                       exclude_folders=args[1::2] if args[0] != "--folder" else ())  # fmt: skip
    assert found.token == t[expected]


def test_maildir_missing_folder_lists_the_folders(
    tree: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = tree
    code, out, err = run(capsys, "find", f"maildir:{root}", "--exclude-folder", "Nope")
    assert (code, out) == (2, "")
    assert "folder 'Nope' does not exist" in err and "'Projects/Acme'" in err
    with pytest.raises(FolderNotFoundError):
        find_token(f"maildir:{root}", folders=["Nope"])


def test_a_tree_without_any_maildir_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    with pytest.raises(ConfigError, match="not a Maildir"):
        open_provider(f"maildir:{tmp_path / 'x'}")


# ---------------------------------------------------------------- entries never opened


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A Maildir whose new/ holds a FIFO, a socket, a directory, a dangling symlink and a
    symlink out of the tree, each named like a newer delivery than the real token mail."""
    root = tmp_path / "Maildir"
    token = new_token()
    deliver(root, token_mail(token, when=T0), T0, "cur")
    outside = tmp_path / "outside.eml"
    outside.write_bytes(token_mail(new_token(), when=T0 + DAY))
    new = root / "new"
    later = int((T0 + DAY).timestamp())
    os.mkfifo(new / f"{later}.fifo.host")
    (new / f"{later + 1}.dir.host").mkdir()
    (new / f"{later + 2}.dangling.host").symlink_to(tmp_path / "missing")
    (new / f"{later + 3}.outside.host").symlink_to(outside)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(new / f"{later + 4}.sock.host"))
    try:
        yield root, token
    finally:
        sock.close()


@pytest.mark.timeout(20)
def test_non_regular_entries_are_skipped_without_a_hang(
    hostile: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, token = hostile
    assert run(capsys, "find", f"maildir:{root}", "-q")[:2] == (0, token + "\n")
    assert [f.token for f in find_tokens(f"maildir:{root}")] == [token]


@pytest.mark.timeout(20)
def test_an_entry_swapped_for_a_fifo_after_listing_is_not_opened_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "Maildir"
    token = new_token()
    deliver(root, token_mail(token, when=T0), T0, "cur")
    swapped = deliver(root, token_mail(new_token(), when=T0 + DAY), T0 + DAY)
    real = walk.open_regular

    def swap(path: Path) -> int | None:
        if path == swapped and path.is_file():
            path.unlink()
            os.mkfifo(path)  # a regular file when listed, a FIFO when opened
        return real(path)

    monkeypatch.setattr(walk, "open_regular", swap)
    assert find_token(f"maildir:{root}").token == token


def test_a_file_moved_from_new_to_cur_during_the_walk_is_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "Maildir"
    token = new_token()
    deliver(root, token_mail(new_token(), when=T0 - DAY), T0 - DAY, "cur")
    moving = deliver(root, token_mail(token, when=T0), T0)
    real = walk.open_regular
    moved: list[Path] = []

    def mail_client(path: Path) -> int | None:
        if path == moving and not moved:  # a mail client marks it seen just before we read
            target = root / "cur" / (moving.name + ":2,S")
            moving.rename(target)
            moved.append(target)
        return real(path)

    monkeypatch.setattr(walk, "open_regular", mail_client)
    found = find_token(f"maildir:{root}")
    assert found.token == token and moved


def test_a_file_gone_before_the_fetch_is_skipped_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    older = new_token()
    deliver(root, token_mail(older, when=T0 - DAY), T0 - DAY, "cur")
    gone = deliver(root, token_mail(new_token(), when=T0), T0)
    with open_provider(f"maildir:{root}") as provider:
        candidates = provider.search(Query())
        first = next(candidates)
        assert first.folder == "INBOX"
        gone.unlink()  # deleted by another client between the header read and the fetch
        from inbox_finder.errors import MessageVanishedError

        with pytest.raises(MessageVanishedError):
            provider.fetch(first)
    assert find_token(f"maildir:{root}").token == older


# ---------------------------------------------------------------- eml and mbox trees


def test_eml_directories_are_searched_recursively(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = tmp_path / "export"
    (top / "Archive" / "2026").mkdir(parents=True)
    (top / ".hidden").mkdir()
    tokens = {k: new_token() for k in ("top", "deep", "hidden")}
    for where, key, when in (("", "top", T0 - DAY), ("Archive/2026", "deep", T0), (".hidden", "hidden", T0 + DAY)):  # fmt: skip
        path = top / where / f"{key}.eml"
        path.write_bytes(token_mail(tokens[key], f"{key}@example.com", when))
        os.utime(path, (when.timestamp(), when.timestamp()))
    os.mkfifo(top / "Archive" / "trap.eml")
    (top / "Archive" / "link.eml").symlink_to(tmp_path / "nowhere.eml")
    found = find_tokens(f"eml:{top}")
    assert [(f.token, f.folder) for f in found] == [
        (tokens["deep"], "Archive/2026"),
        (tokens["top"], None),
    ]
    code, out, _ = run(capsys, "find", f"eml:{top}", "--folder", ".", "-q")
    assert (code, out) == (0, tokens["top"] + "\n")


def test_mbox_directory_reads_every_mbox_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = tmp_path / "Mail"
    (top / "Archives.sbd").mkdir(parents=True)
    tokens = {k: new_token() for k in ("inbox", "arch", "trash")}

    def mbox_file(path: Path, entries: list[tuple[str, str, datetime]]) -> None:
        box = mailbox.mbox(path)
        for token, user, when in entries:
            msg = mailbox.mboxMessage(token_mail(token, user, when))
            msg.set_from("MAILER-DAEMON", when.timetuple())
            box.add(msg)
        box.close()

    mbox_file(top / "Inbox", [(tokens["inbox"], "dana@example.com", T0 - 3 * DAY)])
    mbox_file(top / "Archives.sbd" / "2026", [(tokens["arch"], "ops@example.com", T0 - DAY)])
    mbox_file(top / "Trash", [(tokens["trash"], "dana@example.com", T0 - 2 * DAY)])
    (top / "Inbox.msf").write_text("// Mork index, not mail\n")
    code, out, _ = run(capsys, "find", f"mbox:{top}", "--per-username", "--json")
    got = {d["username"]: (d["token"], d["folder"], d["folder_role"]) for d in json.loads(out)}
    assert code == 0
    assert got == {
        "ops@example.com": (tokens["arch"], "Archives/2026", None),
        "dana@example.com": (tokens["trash"], "Trash", "trash"),
    }
    code, out, _ = run(capsys, "find", f"mbox:{top}", "--exclude-folder", "Trash", "-q",
                       "-u", "dana@example.com")  # fmt: skip
    assert (code, out) == (0, tokens["inbox"] + "\n")
    single = find_token(f"mbox:{top / 'Inbox'}")
    assert (single.token, single.folder) == (tokens["inbox"], None)  # one file: no folder
    with pytest.raises(ConfigError, match="one file"):
        find_token(f"mbox:{top / 'Inbox'}", folders=["Inbox"])
    with open_provider(f"mbox:{top}", SourceOptions(folders=("Trash",))) as provider:
        assert [c.folder for c in provider.search(Query())] == ["Trash"]


# ---------------------------------------------------------------- the shared merge and copies


class _Guessing:
    """A stream whose cheap peek is a guess that settling corrects (like IMAP's head date)."""

    def __init__(self, guess: datetime, real: list[Candidate]) -> None:
        self._guess: datetime | None = guess
        self._inner = IteratorStream(iter(real))
        self.settled = False

    def peek(self) -> datetime | None:
        return self._inner.peek() if self.settled else self._guess

    def settle(self) -> None:
        self.settled = True

    def pop(self) -> Candidate:
        return self._inner.pop()


def _c(ref: str, days: int, folder: str) -> Candidate:
    return Candidate(ref, T0 - days * DAY, folder=folder)


def test_merge_is_newest_first_and_a_wrong_guess_is_put_back() -> None:
    a = IteratorStream(iter([_c("a1", 1, "A"), _c("a2", 4, "A")]))
    # Guessed newest (day 0), but its newest match vanished: really day 3.
    b = _Guessing(T0, [_c("b1", 3, "B")])
    c = IteratorStream(iter([_c("c1", 2, "C")]))
    assert [x.ref for x in merge_newest([a, b, c])] == ["a1", "c1", "b1", "a2"]


def test_merge_refuses_a_stream_out_of_order() -> None:
    bad = IteratorStream(iter([_c("x1", 3, "X"), _c("x2", 1, "X")]))
    with pytest.raises(MailboxError, match="out of order"):
        list(merge_newest([bad]))


def _finding(token: str, folder: str, role: FolderRole | None = None) -> Finding:
    return Finding(token, "dana@example.com", T0, "support@salesforce.com", "s", "<m@x>", "t:",
                   "en", "current", "ok", folder=folder, folder_role=role)  # fmt: skip


def test_copies_are_merged_and_a_copy_outside_trash_is_shown() -> None:
    found = merge_copies([_finding("T1", "Trash", "trash"), _finding("T1", "Archive"),
                          _finding("T1", "INBOX"), _finding("T2", "INBOX")])  # fmt: skip
    assert [(f.token, f.folder, f.folder_role, f.also_in) for f in found] == [
        ("T1", "Archive", None, ("Trash", "INBOX")),
        ("T2", "INBOX", None, ()),
    ]
    only_trash = human(_finding("T3", "Trash", "trash"))
    assert "Folder:    Trash\nNote:      this mail was deleted" in only_trash


def test_a_folder_created_after_an_earlier_search_is_searched_by_the_same_provider(
    tmp_path: Path,
) -> None:
    root = tmp_path / "Maildir"
    first, later = new_token(), new_token()
    deliver(root, token_mail(first, when=T0 - DAY), T0 - DAY)
    with open_provider(f"maildir:{root}") as provider:
        assert find_token(provider).token == first
        deliver(root / ".Salesforce", token_mail(later, when=T0), T0)
        assert find_token(provider).token == later  # no stale folder list
