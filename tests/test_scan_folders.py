"""scan across every folder: mail delivered or moved into any folder is reported by the next
scan; folders created, renamed or deleted between scans; old single-folder state files taken
over; the idle scan of many folders costs one round trip where LIST-STATUS is offered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import test_folders_api as api_cases
from inbox_finder.providers.local import walk

from inbox_finder.cli.main import main
from inbox_finder.scan.state import FORMAT, VERSION, ScanState
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing.dovecot import DovecotServer
from inbox_finder.testing.mail import new_token, other_mail, token_mail

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
UPN = api_cases.UPN
# The Gmail and Graph mailboxes of test_folders_api.py, as fixtures of this module too.
ca, gmail, graph = api_cases.ca, api_cases.gmail, api_cases.graph


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def scan(
    capsys: pytest.CaptureFixture[str],
    source: str,
    state: Path,
    *extra: str,
    config: Path | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    pre = ["--config", str(config)] if config else []
    code = main([*pre, "scan", source, "--state", str(state), "--json", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, [json.loads(line) for line in out.splitlines()]


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---------------------------------------------------------------- IMAP


@pytest.fixture
def imap_box(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    user, password = dovecot.new_user("sf")
    monkeypatch.setenv(PASSWORD_ENV, password)
    first = new_token()
    dovecot.append_many(user, [(_crlf(token_mail(first, when=T0 - 3 * DAY)), T0 - 3 * DAY)])
    dovecot.create_folder(user, "Salesforce")
    return user, first


def test_imap_a_token_mail_moved_into_another_folder_is_reported(
    dovecot: DovecotServer,
    imap_box: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    user, first = imap_box
    url, state, ca = dovecot.url(user), tmp_path / "state.json", ("--ca-file", dovecot.ca_file)
    assert [d["token"] for d in scan(capsys, url, state, *ca)[1]] == [first]
    assert scan(capsys, url, state, *ca) == (0, [])

    token = new_token()
    uid = dovecot.append(user, _crlf(token_mail(token, when=T0)), T0)
    with dovecot.client(user) as c:  # a filter (or the user) files it before the next scan
        c.select_folder("INBOX")
        c.move([uid], "Salesforce")
    code, found = scan(capsys, url, state, *ca)
    assert (code, [(d["token"], d["folder"]) for d in found]) == (0, [(token, "Salesforce")])

    with dovecot.client(user) as c:  # moving it on is no new token
        c.select_folder("Salesforce")
        c.move(c.search("ALL"), "INBOX")
    assert scan(capsys, url, state, *ca) == (0, [])
    assert "imap2:" in json.loads(state.read_text())["cursor"]


def test_imap_folders_created_renamed_and_deleted_between_scans(
    dovecot: DovecotServer,
    imap_box: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    user, _first = imap_box
    url, state, ca = dovecot.url(user), tmp_path / "state.json", ("--ca-file", dovecot.ca_file)
    scan(capsys, url, state, *ca)
    token = new_token()
    dovecot.append_many(user, [(_crlf(token_mail(token, when=T0)), T0)], folder="New/Deep")
    assert [d["token"] for d in scan(capsys, url, state, *ca)[1]] == [token]
    with dovecot.client(user) as c:
        c.rename_folder("New/Deep", "Renamed")
    assert scan(capsys, url, state, *ca) == (0, [])  # the same token under a new name
    dovecot.delete_folder(user, "Renamed")
    assert scan(capsys, url, state, *ca) == (0, [])  # gone: nothing to report, no error
    newer = new_token()
    later = T0 + DAY
    dovecot.append_many(user, [(_crlf(token_mail(newer, when=later)), later)], folder="Renamed")
    assert [d["token"] for d in scan(capsys, url, state, *ca)[1]] == [newer]


def test_imap_an_old_single_folder_state_file_is_taken_over(
    dovecot: DovecotServer,
    imap_box: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A state file as the INBOX-only version wrote it: source ``.../INBOX``, cursor
    ``imap:UIDVALIDITY:UIDNEXT``, the INBOX token's fingerprint."""
    user, first = imap_box
    with dovecot.client(user) as c:
        status = c.folder_status("INBOX", ["UIDVALIDITY", "UIDNEXT"])
    state = ScanState(tmp_path / "state.json")
    old = state_finding(first)
    state.record(old)
    state.source = state.source_key(dovecot.url(user, "INBOX").replace("%2F", "/"))
    state.cursor = f"imap:{status[b'UIDVALIDITY']}:{status[b'UIDNEXT']}"
    state.save()
    assert json.loads(state.path.read_text())["format"] == FORMAT and VERSION == 1

    token = new_token()
    dovecot.append_many(user, [(_crlf(token_mail(token, when=T0)), T0)], folder="Salesforce")
    url, ca = dovecot.url(user), ("--ca-file", dovecot.ca_file)
    code, found = scan(capsys, url, state.path, *ca)
    assert (code, [d["token"] for d in found]) == (0, [token])  # INBOX's is not reported again
    assert json.loads(state.path.read_text())["cursor"].startswith("imap2:")
    assert scan(capsys, url, state.path, *ca) == (0, [])


def state_finding(token: str) -> Any:
    from inbox_finder.model import Finding

    return Finding(token, "dana@example.com", T0 - 3 * DAY, "support@salesforce.com", "s",
                   None, "imaps://x", "en", "current", "ok")  # fmt: skip


def test_imap_idle_scan_of_50_folders_is_one_list_status(
    dovecot: DovecotServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    sizes = {}
    for count in (1, 50):
        user, password = dovecot.new_user(f"idle{count:02d}-")
        monkeypatch.setenv(PASSWORD_ENV, password)
        for i in range(count):
            mails = [(other_mail(i, T0), T0), (token_mail(new_token(), when=T0), T0)]
            dovecot.bulk_load(user, mails, folder="INBOX" if i == 0 else f"Folder {i:02d}")
        url, state = dovecot.url(user), tmp_path / f"state{count}.json"
        scan(capsys, url, state, "--ca-file", dovecot.ca_file)
        n = len(dovecot.wait_logouts(user, 1))
        assert scan(capsys, url, state, "--ca-file", dovecot.ca_file) == (0, [])
        sizes[count] = dovecot.wait_logouts(user, n + 1)[-1]
    one, fifty = sizes[1], sizes[50]
    print(
        f"idle scan: 1 folder in={one['in']} out={one['out']}; 50 in={fifty['in']} out={fifty['out']}"
    )
    assert fifty["in"] == one["in"]  # the same commands: LOGIN, one LIST-STATUS, LOGOUT
    assert fifty["hdr_count"] == fifty["body_count"] == 0


# ---------------------------------------------------------------- Maildir


def _deliver(folder: Path, raw: bytes, when: datetime) -> Path:
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    path = folder / "new" / f"{int(when.timestamp())}.M{new_token(6)}P1.host"
    path.write_bytes(raw)
    return path


def test_maildir_mail_in_any_folder_is_reported_and_idle_scans_read_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state = tmp_path / "Maildir", tmp_path / "state.json"
    first = new_token()
    _deliver(root, token_mail(first, when=T0 - DAY), T0 - DAY)
    _deliver(root / ".Archive", other_mail(1, T0 - 2 * DAY), T0 - 2 * DAY)
    assert [d["token"] for d in scan(capsys, f"maildir:{root}", state)[1]] == [first]
    token = new_token()
    _deliver(root / ".Archive", token_mail(token, when=T0), T0)
    _deliver(root / "Projects" / "Acme", other_mail(2, T0), T0)  # a new nested folder
    found = scan(capsys, f"maildir:{root}", state)[1]
    assert [(d["token"], d["folder"]) for d in found] == [(token, "Archive")]

    reads: list[Path] = []
    real = walk.Tree.read_head
    monkeypatch.setattr(walk.Tree, "read_head", lambda self, p: reads.append(p) or real(self, p))
    monkeypatch.setattr("inbox_finder.providers.local.stamps.SETTLE", 0.0)
    scan(capsys, f"maildir:{root}", state)  # settles the cursor of the folders just written
    reads.clear()
    assert scan(capsys, f"maildir:{root}", state) == (0, [])
    assert reads == []  # nothing changed: no file opened


def test_maildir_old_single_folder_cursor_is_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, state = tmp_path / "Maildir", tmp_path / "state.json"
    first = new_token()
    _deliver(root, token_mail(first, when=T0 - DAY), T0 - DAY)
    scan(capsys, f"maildir:{root}", state)
    data = json.loads(state.read_text())
    stamps = [str((root / sub).stat().st_mtime_ns) for sub in ("new", "cur")]
    data["cursor"] = "maildir:" + ":".join(stamps)  # what the single-folder version stored
    state.write_text(json.dumps(data))
    token = new_token()
    _deliver(root / ".Salesforce", token_mail(token, when=T0), T0)
    assert [d["token"] for d in scan(capsys, f"maildir:{root}", state)[1]] == [token]


# ---------------------------------------------------------------- Gmail and Graph


def test_gmail_mail_under_a_user_label_only_is_reported(
    gmail: tuple[Any, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    emu, config = gmail
    state = tmp_path / "state.json"
    assert scan(capsys, "work", state, config=config) == (0, [])  # empty mailbox
    label = emu.add_label("Salesforce")
    token = new_token()
    emu.add_message(token_mail(token, when=T0), T0, labels=(label,))  # skips the inbox
    code, found = scan(capsys, "work", state, config=config)
    assert (code, [(d["token"], d["folder"]) for d in found]) == (0, [(token, "Salesforce")])
    assert scan(capsys, "work", state, config=config) == (0, [])


def test_graph_mail_in_any_folder_is_reported_once(
    graph: tuple[Any, Path, dict[str, str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    emu, config, t = graph
    state = tmp_path / "state.json"
    first = {d["username"]: d["token"] for d in scan(capsys, "work", state, config=config)[1]}
    assert first["dana@example.com"] == t["trash"]
    token = new_token()
    now = datetime.now(UTC)
    msg = emu.add_message(UPN, token_mail(token, "ops@example.com", now), now, "Projects/Acme")
    code, found = scan(capsys, "work", state, config=config)
    assert (code, [(d["token"], d["folder"]) for d in found]) == (0, [(token, "Acme")])
    emu.move_message(UPN, msg, "archive")
    assert scan(capsys, "work", state, config=config) == (0, [])
