"""The whole Gmail and Outlook mailbox: Trash/Spam and every folder, through the real SDKs.

The same cases as on IMAP (tests/test_folders_imap.py): older tokens in the inbox, a newer one
filed under "Salesforce" (a nested Graph folder), the newest for dana deleted (Gmail TRASH,
Graph Deleted Items), a spoof newer than all in Spam / Junk Email (rejected), ops's newest in
an archive, a non-ASCII folder; restriction by --folder / --exclude-folder; a missing folder is
exit 2 listing the folders. The emulators follow the references: Gmail's messages.list leaves
out SPAM and TRASH unless includeSpamTrash=true; Graph's /messages spans every folder,
/mailFolders/{id}/messages one folder, messages carry parentFolderId.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulators.gmail_emulator import GmailEmulator
from emulators.ms_emulators import IdentityEmulator, LoopbackCA, make_test_ca
from emulators.ms_graph_emulator import GraphEmulator

from inbox_finder.cli.main import main
from inbox_finder.testing.mail import new_token, token_mail

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
UPN = "dana@example.com"
APP_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t~Value.That-Must_Never.Leak"
NON_ASCII = "Überfällig ✓"


def spoof(when: datetime) -> bytes:
    raw = token_mail(new_token(), "dana@example.com", when)
    return b"Authentication-Results: mx.google.com; dmarc=fail header.from=salesforce.com\n" + raw


def write_config(path: Path, keys: dict[str, Any]) -> Path:
    path.write_text(
        "[mailbox.work]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    )
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ---------------------------------------------------------------- Gmail


@pytest.fixture
def gmail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GmailEmulator, Path]]:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    with GmailEmulator() as emu:
        creds = tmp_path / "gmail.json"
        info = emu.authorized_user_info(
            token=emu.issue_access_token(), expiry=datetime.now(UTC) + timedelta(hours=1)
        )
        creds.write_text(json.dumps(info))
        creds.chmod(0o600)
        keys = {
            "url": "gmail://me",
            "credentials": str(creds),
            "token_uri": emu.token_uri,
            "api_endpoint": emu.url,
            "retry_max_seconds": 0,
        }
        yield emu, write_config(tmp_path / "config.toml", keys)


@pytest.fixture
def gmail_box(gmail: tuple[GmailEmulator, Path]) -> tuple[GmailEmulator, Path, dict[str, str]]:
    emu, config = gmail
    t = {k: new_token() for k in ("inbox", "sf", "trash", "arch", "uat", "both")}
    sf, odd = emu.add_label("Salesforce"), emu.add_label(NON_ASCII)
    add = emu.add_message
    add(token_mail(t["inbox"], "dana@example.com", T0 - 10 * DAY), T0 - 10 * DAY)
    add(token_mail(t["sf"], "dana@example.com", T0 - 5 * DAY), T0 - 5 * DAY, labels=(sf, "UNREAD"))
    add(token_mail(t["trash"], "dana@example.com", T0 - DAY), T0 - DAY, labels=("TRASH",))
    add(spoof(T0 + DAY), T0 + DAY, labels=("SPAM",))
    add(token_mail(t["arch"], "ops@example.com", T0 - 2 * DAY), T0 - 2 * DAY, labels=())
    add(token_mail(t["uat"], "dana@example.com.uat", T0 - 3 * DAY), T0 - 3 * DAY, labels=(odd,))
    both = ("INBOX", sf, "CATEGORY_UPDATES")
    add(token_mail(t["both"], "both@example.com", T0 - 4 * DAY), T0 - 4 * DAY, labels=both)
    return emu, config, t


def _lists(emu: GmailEmulator) -> list[Any]:
    return [r for r in emu.requests if r.path == "/gmail/v1/users/me/messages"]


def test_gmail_whole_mailbox_includes_trash_and_rejects_the_spam_spoof(
    gmail_box: tuple[GmailEmulator, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    emu, config, t = gmail_box
    code, out, _ = run(capsys, config, "find", "work", "--json")
    data = json.loads(out)
    assert (code, data["token"], data["folder"], data["folder_role"]) == (
        0,
        t["trash"],
        "TRASH",
        "trash",
    )
    lists = _lists(emu)
    assert lists and all(r.query.get("includeSpamTrash") == ["true"] for r in lists)
    assert not any("labels" in r.path for r in emu.requests)  # no user label to name
    code, out, _ = run(capsys, config, "find", "work")
    assert "Folder:    TRASH" in out and "deleted" in out


def test_gmail_per_username_names_user_labels(
    gmail_box: tuple[GmailEmulator, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    emu, config, t = gmail_box
    code, out, _ = run(capsys, config, "find", "work", "--per-username", "--json")
    got = {d["username"]: (d["token"], d["folder"]) for d in json.loads(out)}
    assert code == 0
    assert got == {
        "dana@example.com": (t["trash"], "TRASH"),
        "ops@example.com": (t["arch"], None),  # archived: no folder-like label
        "dana@example.com.uat": (t["uat"], NON_ASCII),
        "both@example.com": (t["both"], "INBOX"),
    }
    assert sum(1 for r in emu.requests if r.path.endswith("/labels")) == 1  # cached


@pytest.mark.parametrize(
    ("args", "expected", "label_lists"),
    [
        (("--folder", "INBOX"), "inbox", 0),  # a system label is its own id: no labels.list
        (("--folder", "salesforce"), "sf", 1),
        (("--folder", "INBOX", "--folder", "Salesforce"), "sf", 1),
        (("--exclude-folder", "TRASH"), "sf", 1),  # names the user label of the finding
        (("--exclude-folder", "TRASH", "--exclude-folder", "Salesforce"), "inbox", 1),
    ],
)
def test_gmail_folder_options(
    gmail_box: tuple[GmailEmulator, Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    expected: str,
    label_lists: int,
) -> None:
    emu, config, t = gmail_box
    code, out, _ = run(capsys, config, "find", "work", "-u", "dana@example.com", "-q", *args)
    assert (code, out) == (0, t[expected] + "\n")
    assert sum(1 for r in emu.requests if r.path.endswith("/labels")) == label_lists


def test_gmail_excluding_one_of_two_labels_keeps_the_mail(
    gmail_box: tuple[GmailEmulator, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _emu, config, t = gmail_box
    code, out, _ = run(capsys, config, "find", "work", "-u", "both@example.com", "-q",
                       "--exclude-folder", "Salesforce")  # fmt: skip
    assert (code, out) == (0, t["both"] + "\n")  # it is in INBOX too


def test_gmail_missing_label_is_exit_2_listing_labels(
    gmail_box: tuple[GmailEmulator, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _emu, config, _t = gmail_box
    code, out, err = run(capsys, config, "find", "work", "--folder", "Nope")
    assert (code, out) == (2, "")
    assert "folder 'Nope' does not exist in gmail://me" in err and "'Salesforce'" in err


# ---------------------------------------------------------------- Graph


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def graph(
    ca: LoopbackCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[GraphEmulator, Path, dict[str, str]]]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))
    monkeypatch.setenv("TEST_APP_SECRET", SECRET)
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    with IdentityEmulator(ca) as idp, GraphEmulator(idp, ca) as emu:
        idp.register_app(APP_ID, secret=SECRET)
        emu.add_mailbox(UPN)
        t = {k: new_token() for k in ("inbox", "sf", "trash", "arch", "uat")}
        add = emu.add_message
        add(UPN, token_mail(t["inbox"], "dana@example.com", T0 - 10 * DAY), T0 - 10 * DAY)
        sf = "Inbox/Salesforce"  # a child folder of the Inbox
        add(UPN, token_mail(t["sf"], "dana@example.com", T0 - 5 * DAY), T0 - 5 * DAY, sf)
        add(UPN, token_mail(t["trash"], "dana@example.com", T0 - DAY), T0 - DAY, "deleteditems")
        add(UPN, spoof(T0 + DAY), T0 + DAY, "junkemail")
        add(UPN, token_mail(t["arch"], "ops@example.com", T0 - 2 * DAY), T0 - 2 * DAY, "archive")
        uat = token_mail(t["uat"], "dana@example.com.uat", T0 - 3 * DAY)
        add(UPN, uat, T0 - 3 * DAY, NON_ASCII)
        keys = {
            "url": f"outlook://{UPN}",
            "client_id": APP_ID,
            "tenant": idp.tenant_id,
            "authority": idp.authority(),
            "graph_endpoint": emu.endpoint,
            "client_secret_env": "TEST_APP_SECRET",
        }
        yield emu, write_config(tmp_path / "config.toml", keys), t


def test_graph_whole_mailbox_names_deleted_items_in_one_extra_call(
    graph: tuple[GraphEmulator, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    emu, config, t = graph
    code, out, _ = run(capsys, config, "find", "work", "--json")
    data = json.loads(out)
    assert (code, data["token"], data["folder"], data["folder_role"]) == (
        0,
        t["trash"],
        "Deleted Items",
        "trash",
    )
    kinds = [r.path.rsplit("/", 1)[-1] for r in emu.requests]
    # The list, the spoof's MIME (Graph's header fields hold no Authentication-Results),
    # the token mail's (a second body: read in a $batch with any later candidates'), and ONE
    # $batch naming the folder (with deleteditems and junkemail).
    assert kinds == ["messages", "$value", "$batch", "$batch"]
    assert emu.batches[0] and all(p.endswith("/$value") for p, _ in emu.batches[0])
    code, out, _ = run(capsys, config, "find", "work")
    assert "Folder:    Deleted Items" in out and "still the newest one issued" in out


def test_graph_per_username_across_folders(
    graph: tuple[GraphEmulator, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    emu, config, t = graph
    code, out, _ = run(capsys, config, "find", "work", "--per-username", "--json")
    got = {d["username"]: (d["token"], d["folder"], d["folder_role"]) for d in json.loads(out)}
    assert code == 0
    assert got == {
        "dana@example.com": (t["trash"], "Deleted Items", "trash"),
        "ops@example.com": (t["arch"], "Archive", None),
        "dana@example.com.uat": (t["uat"], NON_ASCII, None),
    }
    naming = [b for b in emu.batches if any("/mailFolders/" in p for p, _ in b)]
    assert len(naming) == 3  # one per distinct folder of a finding, never per message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--folder", "inbox"), "inbox"),  # a well-known name
        (("--folder", "Salesforce"), "sf"),  # a child folder, found by displayName
        (("--folder", "Inbox/Salesforce"), "sf"),  # by path
        (("--folder", "Inbox", "--folder", "Salesforce"), "sf"),  # merged newest first
        (("--exclude-folder", "Deleted Items"), "sf"),  # by displayName
        (("--exclude-folder", "deleteditems", "--exclude-folder", "Salesforce"), "inbox"),
    ],
)
def test_graph_folder_options(
    graph: tuple[GraphEmulator, Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    expected: str,
) -> None:
    _emu, config, t = graph
    code, out, _ = run(capsys, config, "find", "work", "-u", "dana@example.com", "-q", *args)
    assert (code, out) == (0, t[expected] + "\n")


def test_graph_profile_folder_key_still_restricts(
    graph: tuple[GraphEmulator, Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    emu, config, t = graph
    text = config.read_text() + 'folder = "inbox"\n'
    restricted = tmp_path / "inbox.toml"
    restricted.write_text(text)
    code, out, _ = run(capsys, restricted, "find", "work", "-q")
    assert (code, out) == (0, t["inbox"] + "\n")
    assert emu.requests[0].path.endswith("/mailFolders/inbox/messages")


def test_graph_missing_folder_is_exit_2_listing_folders(
    graph: tuple[GraphEmulator, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _emu, config, _t = graph
    code, out, err = run(capsys, config, "find", "work", "--folder", "Nope")
    assert (code, out) == (2, "")
    assert f"folder 'Nope' does not exist in outlook://{UPN}" in err
    assert "'Inbox'" in err and "'Deleted Items'" in err
