"""scan on Gmail: the shipped scan contract, then the historyId cursor + users.history.list,
through googleapiclient and the CLI.

API calls are counted in the emulator's request log: Gmail API method calls (``/gmail/...``,
batch parts included) separately from the OAuth token endpoint (``/token``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from corpus_util import CORPUS, load_expected, positives
from emulators.gmail_emulator import GmailEmulator, LoggedRequest
from inbox_finder.providers.gmail import history as gmail_history
from inbox_finder.providers.gmail.provider import GmailProvider
from mailboxes import GmailFixtures

from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.cli.main import main
from inbox_finder.testing import ScanContract
from inbox_finder.testing.mail import new_token, other_mail, token_mail, verification_mail

HISTORY = "/gmail/v1/users/me/history"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def emu() -> Iterator[GmailEmulator]:
    with GmailEmulator() as emulator:
        emulator.load_corpus(CORPUS)
        yield emulator


class TestGmailScanContract(GmailFixtures, ScanContract):
    pass


def write_creds(emu: GmailEmulator, path: Path, *, fresh: bool = True) -> Path:
    """Authorized-user JSON; ``fresh``: a valid access token, so no token-endpoint call."""
    token = emu.issue_access_token() if fresh else "ya29.stale"
    expiry = datetime.now(UTC) + (timedelta(hours=1) if fresh else -timedelta(days=1))
    path.write_text(json.dumps(emu.authorized_user_info(token=token, expiry=expiry)))
    path.chmod(0o600)
    return path


@pytest.fixture
def config(emu: GmailEmulator, tmp_path: Path) -> Path:
    creds = write_creds(emu, tmp_path / "gmail.json")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[mailbox.work]\nurl = "gmail://me"\ncredentials = "{creds}"\n'
        f'token_uri = "{emu.token_uri}"\napi_endpoint = "{emu.url}"\nretry_max_seconds = 0\n'
    )
    return path


class Scanner:
    """Runs ``inbox-finder --config CFG scan work --state FILE --json`` and counts requests."""

    def __init__(
        self, emu: GmailEmulator, config: Path, state: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.emu, self.config, self.state, self.capsys = emu, config, state, capsys
        self.requests: list[LoggedRequest] = []
        self.err = ""

    def __call__(self, *extra: str, verbose: bool = False) -> tuple[int, list[dict[str, Any]]]:
        before = len(self.emu.requests)
        args = ["--config", str(self.config), *(["--verbose"] if verbose else [])]
        code = main([*args, "scan", "work", "--state", str(self.state), "--json", *extra])
        out, self.err = self.capsys.readouterr()
        self.requests = self.emu.requests[before:]
        return code, [json.loads(line) for line in out.splitlines()]

    def api_calls(self) -> list[str]:
        """Gmail API method calls of the last scan, as short names."""
        return [_name(r) for r in self.requests if r.path.startswith("/gmail/")]

    def token_calls(self) -> int:
        return sum(1 for r in self.requests if r.path == "/token")

    def round_trips(self) -> int:
        return sum(1 for r in self.requests if not r.in_batch)


def _name(r: LoggedRequest) -> str:
    tail = r.path.rsplit("/", 2)
    if tail[-1] in ("profile", "history", "messages"):
        return tail[-1]
    return f"get:{r.query.get('format', ['full'])[0]}"


@pytest.fixture
def scan(
    emu: GmailEmulator, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Scanner:
    return Scanner(emu, config, tmp_path / "state.json", capsys)


def newest_per_username() -> dict[str | None, str]:
    found: dict[str | None, str] = {}
    for e in positives():
        found.setdefault(e.username, e.token or "")
    return found


def test_first_reports_then_idle_costs_one_call_then_only_new(
    emu: GmailEmulator, scan: Scanner
) -> None:
    code, first = scan()
    assert code == 0 and {d["username"]: d["token"] for d in first} == newest_per_username()
    assert len(first) == len(newest_per_username())
    assert scan.api_calls()[0] == "profile" and "messages" in scan.api_calls()  # a full search

    assert scan() == (0, [])
    assert scan.api_calls() == ["profile"] and scan.round_trips() == 1
    assert scan.token_calls() == 0

    emu.add_message(verification_mail(), datetime.now(UTC))  # noreply@salesforce.com look-alike
    emu.add_message(other_mail(1), datetime.now(UTC))
    assert scan() == (0, [])
    # The look-alike's headers are read (one batch) and rejected; nothing is downloaded.
    assert scan.api_calls() == ["profile", "history", "get:metadata", "get:metadata"]

    token = new_token()
    emu.add_message(token_mail(token, "dana@example.com"), datetime.now(UTC))
    code, third = scan()
    assert code == 0 and [(d["username"], d["token"]) for d in third] == [
        ("dana@example.com", token)
    ]
    assert scan.api_calls() == ["profile", "history", "get:metadata", "get:raw"]
    assert scan.round_trips() == 4  # the metadata get travels in a batch envelope

    assert scan() == (0, [])
    assert scan.api_calls() == ["profile"]
    assert json.loads(scan.state.read_text())["cursor"] == f"gmail:{emu.current_history_id()}"


def test_expired_access_token_is_counted_apart(
    emu: GmailEmulator, scan: Scanner, tmp_path: Path
) -> None:
    scan()
    write_creds(emu, tmp_path / "gmail.json", fresh=False)  # the config's credentials file
    assert scan() == (0, [])
    assert scan.api_calls() == ["profile"] and scan.token_calls() == 1
    assert scan() == (0, [])  # the refreshed token was saved back: no refresh this time
    assert scan.api_calls() == ["profile"] and scan.token_calls() == 0


@pytest.mark.parametrize("how", ["injected 404", "history expired"])
def test_history_404_falls_back_to_a_full_search(
    emu: GmailEmulator, scan: Scanner, how: str
) -> None:
    scan()
    token = new_token()
    emu.add_message(token_mail(token, "ops@example.com"), datetime.now(UTC))
    if how == "history expired":
        emu.expire_history()
    else:
        emu.fail_next(1, 404, prefix=HISTORY)
    code, found = scan(verbose=True)
    assert code == 0 and [(d["username"], d["token"]) for d in found] == [
        ("ops@example.com", token)
    ]
    calls = scan.api_calls()
    assert calls[:2] == ["profile", "history"] and "messages" in calls
    assert [r.status for r in scan.requests if r.path == HISTORY] == [404]
    assert "INFO inbox_finder.providers.gmail.provider: Gmail history from id" in scan.err
    assert "is too old (HTTP 404); searching the whole mailbox" in scan.err
    assert scan() == (0, [])
    assert scan.api_calls() == ["profile"]


def test_spam_and_trash_are_searched_and_label_changes_cost_nothing(
    emu: GmailEmulator, scan: Scanner
) -> None:
    scan()
    token = new_token()
    emu.add_message(token_mail(token, "dana@example.com"), datetime.now(UTC), labels=("SPAM",))
    code, found = scan()  # the whole mailbox, Spam included (includeSpamTrash)
    assert code == 0 and [(d["token"], d["folder"]) for d in found] == [(token, "SPAM")]

    some_id = next(iter(emu.mailboxes["dana@example.com"]))
    emu.modify_labels(some_id, add=("STARRED",))
    assert scan() == (0, [])  # historyId moved, nothing was added
    assert scan.api_calls() == ["profile", "history"]

    trashed = new_token()
    moved = emu.add_message(token_mail(trashed, "ops@example.com"), datetime.now(UTC))
    emu.modify_labels(moved, remove=("INBOX",), add=("TRASH",))
    code, found = scan()
    assert code == 0 and [(d["token"], d["folder_role"]) for d in found] == [(trashed, "trash")]

    gone = emu.add_message(token_mail(new_token()), datetime.now(UTC))
    emu.delete_message(gone)  # listed by history, 404 on metadata: skipped, not an error
    assert scan() == (0, [])
    assert scan.api_calls() == ["profile", "history", "get:metadata"]


def test_unusable_cursor_is_a_full_search_not_an_error(emu: GmailEmulator, scan: Scanner) -> None:
    scan()
    data = json.loads(scan.state.read_text())
    for cursor in ("gmail:not-a-number", "gmail:" + "9" * 30, "imap:1:2", "gmail:"):
        scan.state.write_text(json.dumps({**data, "cursor": cursor}))
        assert scan() == (0, [])  # everything found was reported already
        assert "messages" in scan.api_calls() and "history" not in scan.api_calls()
    scan.state.write_text(json.dumps({**data, "cursor": "gmail:1"}))  # valid, very old
    assert scan() == (0, [])
    assert "history" in scan.api_calls()


# --- the provider and the emulator directly -------------------------------------------------


def provider(emu: GmailEmulator, tmp_path: Path) -> GmailProvider:
    profile = {
        "credentials": str(write_creds(emu, tmp_path / "p.json")),
        "api_endpoint": emu.url,
        "token_uri": emu.token_uri,
    }
    return GmailProvider.from_url("gmail://me", SourceOptions(timeout=5.0, profile=profile))


def test_after_cursor_yields_only_added_mail_newest_first(
    emu: GmailEmulator, tmp_path: Path
) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    with provider(emu, tmp_path) as gmail:
        cursor = gmail.sync_cursor()
        assert cursor == f"gmail:{emu.current_history_id()}"
        assert gmail.sync_cursor() == cursor  # unchanged mailbox, same cursor
        # Delivered out of order: history order is not receive order.
        times = [t0 + timedelta(minutes=m) for m in (5, 1, 9, 3)]
        ids = [emu.add_message(token_mail(new_token(), when=t), t) for t in times]
        emu.add_message(other_mail(1), t0 + timedelta(minutes=20))
        trash = t0 + timedelta(minutes=30)
        ids.append(emu.add_message(token_mail(new_token()), trash, labels=("TRASH",)))
        assert gmail.sync_cursor() != cursor
        emu.requests.clear()
        got = list(gmail.search(Query(after_cursor=cursor)))
        assert [c.ref for c in got] == [ids[4], ids[2], ids[0], ids[3], ids[1]]  # Trash too
        assert [c.received for c in got] == sorted((c.received for c in got), reverse=True)
        since = t0 + timedelta(minutes=3)
        assert [c.ref for c in gmail.search(Query(since=since, after_cursor=cursor))] == [
            ids[4],
            ids[2],
            ids[0],
            ids[3],
        ]
    history = [r for r in emu.requests if r.path == HISTORY]
    assert history[0].query["historyTypes"] == ["messageAdded"]
    assert "labelId" not in history[0].query  # like the full search: not INBOX-only


def test_history_pages_are_followed(
    emu: GmailEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gmail_history, "HISTORY_PAGE_SIZE", 3)
    with provider(emu, tmp_path) as gmail:
        cursor = gmail.sync_cursor()
        for i in range(7):
            emu.add_message(token_mail(new_token()), datetime(2025, 1, 1, i, tzinfo=UTC))
        got = list(gmail.search(Query(after_cursor=cursor)))
    assert len(got) == 7 and got[0].received.hour == 6
    assert [r.query["maxResults"] for r in emu.requests if r.path == HISTORY] == [["3"]] * 3


def test_emulator_profile_and_history_follow_the_reference(emu: GmailEmulator) -> None:
    def get(path: str) -> tuple[int, Any]:
        req = urllib.request.Request(
            emu.url + path, headers={"Authorization": f"Bearer {emu.issue_access_token()}"}
        )
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    status, profile = get("/gmail/v1/users/me/profile")
    assert status == 200 and set(profile) >= {"emailAddress", "messagesTotal", "historyId"}
    assert isinstance(profile["historyId"], str) and profile["messagesTotal"] == len(
        load_expected()
    )
    start = int(profile["historyId"])
    new = emu.add_message(token_mail(new_token()), datetime.now(UTC), labels=("INBOX", "UNREAD"))
    emu.modify_labels(new, remove=("UNREAD",))
    emu.add_message(other_mail(2), datetime.now(UTC), labels=("SENT",))
    assert int(get("/gmail/v1/users/me/profile")[1]["historyId"]) > start

    status, body = get(f"{HISTORY}?startHistoryId={start}")
    assert status == 200 and body["historyId"] == str(emu.current_history_id())
    ids = [int(r["id"]) for r in body["history"]]
    assert ids == sorted(ids) and all(i > start for i in ids) and len(ids) == 3
    added = body["history"][0]["messagesAdded"][0]["message"]
    assert added == {"id": new, "threadId": new, "labelIds": ["INBOX"]}
    removed = body["history"][1]["labelsRemoved"][0]
    assert removed["labelIds"] == ["UNREAD"] and removed["message"]["id"] == new

    status, body = get(f"{HISTORY}?startHistoryId={start}&historyTypes=messageAdded&labelId=SENT")
    assert [list(r) for r in body["history"]] == [["id", "messages", "messagesAdded"]]
    status, body = get(f"{HISTORY}?startHistoryId={start}&historyTypes=messageAdded&maxResults=1")
    assert len(body["history"]) == 1 and "nextPageToken" in body
    assert get(f"{HISTORY}?startHistoryId={start}&historyTypes=bogus")[0] == 400
    assert get(f"{HISTORY}?startHistoryId={emu.current_history_id()}")[1].get("history") is None

    emu.expire_history()
    status, body = get(f"{HISTORY}?startHistoryId={start}")
    assert status == 404 and body["error"]["errors"][0]["reason"] == "notFound"
    assert get(f"{HISTORY}?startHistoryId={emu.current_history_id()}")[0] == 200


def test_after_cursor_keeps_a_token_mail_whose_from_header_is_folded(
    emu: GmailEmulator, tmp_path: Path
) -> None:
    """The incremental path narrows by sender with the same byte test as every other path."""
    raw = token_mail(new_token()).replace(
        b"From: Salesforce <support@salesforce.com>",
        b"From: Salesforce Customer Support\r\n <support@salesforce.com>",
    )
    assert b"\r\n <support@salesforce.com>" in raw
    with provider(emu, tmp_path) as gmail:
        cursor = gmail.sync_cursor()
        msg_id = emu.add_message(raw, datetime(2025, 1, 1, tzinfo=UTC))
        assert [c.ref for c in gmail.search(Query(after_cursor=cursor))] == [msg_id]
