"""scan and find --wait against a real Dovecot: the shipped scan contract, then what is IMAP's
own (UIDNEXT cursor costs, UIDVALIDITY changes, IDLE)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from corpus_util import GoldenCorpus, load_expected
from mailboxes import DovecotFixtures

from inbox_finder.cli.main import main
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing import ScanContract
from inbox_finder.testing.dovecot import DovecotServer
from inbox_finder.testing.mail import new_token, other_mail, token_mail

T0 = datetime(2024, 6, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def corpus_user(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh user whose INBOX holds the golden corpus (INTERNALDATE = expected time)."""
    user, password = dovecot.new_user("scan")
    dovecot.append_many(user, [(e.raw, e.received) for e in load_expected()])
    monkeypatch.setenv(PASSWORD_ENV, password)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    return user


class TestImapScanContract(DovecotFixtures, ScanContract):
    """On a folder other than INBOX, so the contract can recreate it (a new UIDVALIDITY)."""

    folder = "Tokens"
    supports_recreate = True


class TestImapGoldenScanContract(GoldenCorpus, TestImapScanContract):
    pass


def scan(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotServer, url: str, state: Path, *extra: str
) -> tuple[int, list[dict[str, str]]]:
    code = main(
        ["scan", url, "--state", str(state), "--ca-file", dovecot.ca_file, "--json", *extra]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, [json.loads(line) for line in out.splitlines()]


def test_idle_scan_fetches_nothing(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotServer, corpus_user: str, tmp_path: Path
) -> None:
    url, state = dovecot.url(corpus_user), tmp_path / "state.json"
    scan(capsys, dovecot, url, state)
    # Sessions so far: the fixture's APPEND and the first scan (the log is written async).
    before = len(dovecot.wait_logouts(corpus_user, 2))
    assert before == 2
    assert scan(capsys, dovecot, url, state) == (0, [])
    idle = dovecot.wait_logouts(corpus_user, before + 1)[-1]
    assert idle["hdr_count"] == 0 and idle["body_count"] == 0


def test_uidvalidity_change_falls_back_to_a_full_search(
    capsys: pytest.CaptureFixture[str],
    dovecot: DovecotServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    user, password = dovecot.new_user("uv")
    monkeypatch.setenv(PASSWORD_ENV, password)
    old = new_token()
    dovecot.create_folder(user, "Tokens")
    dovecot.append(user, token_mail(old, "dana@example.com", T0), T0, folder="Tokens")
    url, state = dovecot.url(user, "Tokens"), tmp_path / "state.json"
    assert [d["token"] for d in scan(capsys, dovecot, url, state)[1]] == [old]

    # Recreating the folder gives it a new UIDVALIDITY; UIDs start again at 1.
    dovecot.delete_folder(user, "Tokens")
    dovecot.create_folder(user, "Tokens")
    new = new_token()
    later = T0 + timedelta(days=1)
    dovecot.append_many(
        user,
        [
            (token_mail(old, "dana@example.com", T0), T0),
            (token_mail(new, "dana@example.com", later), later),
        ],
        folder="Tokens",
    )
    code, found = scan(capsys, dovecot, url, state)
    assert (code, [d["token"] for d in found]) == (0, [new])
    assert scan(capsys, dovecot, url, state) == (0, [])


def _logout_sizes(dovecot: DovecotServer, user: str, n: int) -> dict[str, int]:
    return dovecot.wait_logouts(user, n)[-1]


def test_idle_scan_cost_does_not_grow_with_mailbox_size(
    capsys: pytest.CaptureFixture[str],
    dovecot: DovecotServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Bytes exchanged by an idle scan: 100-message vs 10,000-message mailbox."""
    sizes = {}
    for count in (100, 10_000):
        user, password = dovecot.new_user(f"size{count}-")
        mails = [
            (other_mail(i, T0 - timedelta(minutes=i)), T0 - timedelta(minutes=i))
            for i in range(count)
        ]
        mails.append((token_mail(new_token(), "dana@example.com", T0), T0))
        dovecot.bulk_load(user, mails)
        monkeypatch.setenv(PASSWORD_ENV, password)
        state = tmp_path / f"state{count}.json"
        scan(capsys, dovecot, dovecot.url(user), state)  # first scan records the cursor
        n = len(dovecot.wait_logouts(user, 1))
        assert scan(capsys, dovecot, dovecot.url(user), state) == (0, [])
        sizes[count] = _logout_sizes(dovecot, user, n + 1)
    small, big = sizes[100], sizes[10_000]
    print(
        f"idle scan bytes: 100 msgs in={small['in']} out={small['out']}; "
        f"10,000 msgs in={big['in']} out={big['out']}"
    )
    assert big["in"] == small["in"]  # the client sends exactly the same commands
    # The server's EXAMINE answer carries EXISTS/UIDNEXT: a few more digits, nothing more.
    assert 0 <= big["out"] - small["out"] <= 16


def test_find_wait_returns_when_the_mail_is_appended(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotServer, corpus_user: str
) -> None:
    token = new_token()

    def deliver() -> None:
        time.sleep(1.5)
        now = datetime.now(UTC)
        dovecot.append(
            corpus_user, token_mail(token, "dana@example.com", now), now + timedelta(seconds=2)
        )

    thread = threading.Thread(target=deliver)
    thread.start()
    code = main(
        [
            "find",
            dovecot.url(corpus_user),
            "--ca-file",
            dovecot.ca_file,
            "-q",
            "--wait",
            "30s",
            "--interval",
            "0.5s",
        ]
    )
    thread.join()
    out, _ = capsys.readouterr()
    assert (code, out.strip()) == (0, token)


def test_find_wait_times_out_with_exit_1(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotServer, corpus_user: str
) -> None:
    code = main(
        [
            "find",
            dovecot.url(corpus_user),
            "--ca-file",
            dovecot.ca_file,
            "--wait",
            "1s",
            "--interval",
            "0.3s",
        ]
    )
    _, err = capsys.readouterr()
    assert code == 1 and "no security token email found since" in err


def test_watch_with_idle_reacts_within_seconds_and_stops_on_sigterm(
    dovecot: DovecotServer, corpus_user: str, tmp_path: Path
) -> None:
    """--interval is a minute, so only IMAP IDLE can make watch react this fast."""
    import os
    import signal
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("inbox-finder"))
    state = tmp_path / "state.json"
    base = ["--ca-file", dovecot.ca_file, "--state", str(state)]
    subprocess.run([exe, "scan", dovecot.url(corpus_user), *base], check=True, capture_output=True)
    proc = subprocess.Popen(
        [exe, "--verbose", "watch", dovecot.url(corpus_user), *base, "--interval", "60s", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        time.sleep(2.0)  # first (idle) scan done, IDLE entered
        token = new_token()
        started = time.monotonic()
        dovecot.append(corpus_user, token_mail(token, "tz@example.com", T0), T0)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        reacted = time.monotonic() - started
        assert json.loads(line)["token"] == token
        assert reacted < 15, reacted
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "the server reports new mail" in err and "heartbeat" in err and "Traceback" not in err
