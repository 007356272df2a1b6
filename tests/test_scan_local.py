"""scan / watch / find --wait on local mailboxes (the IMAP variants live in test_scan_imap)."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from corpus_util import GoldenCorpus, build_mbox, positives
from mailboxes import LocalFixtures

from inbox_finder.cli.main import main
from inbox_finder.testing import ScanContract
from inbox_finder.testing.mail import new_token, token_mail

EXE = str(Path(sys.executable).with_name("inbox-finder"))


def append_mbox(path: Path, raw: bytes) -> None:
    box = mailbox.mbox(str(path))
    try:
        msg = mailbox.mboxMessage(raw)
        msg.set_from("MAILER-DAEMON", datetime.now(UTC).utctimetuple())
        box.add(msg)
        box.flush()
    finally:
        box.close()


@pytest.fixture
def mbox(tmp_path: Path) -> Path:
    return build_mbox(tmp_path / "inbox.mbox")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, str]], str]:
    code = main(["scan", *args, "--json"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


class TestEmlScanContract(LocalFixtures, ScanContract):
    kind = "eml"


class TestMaildirScanContract(LocalFixtures, ScanContract):
    kind = "maildir"


class TestMboxScanContract(LocalFixtures, ScanContract):
    kind = "mbox"


class TestMboxGoldenScanContract(GoldenCorpus, TestMboxScanContract):
    pass


def test_username_filter(capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path) -> None:
    code, found, _ = scan(
        capsys,
        f"mbox:{mbox}",
        "--state",
        str(tmp_path / "s"),
        "-u",
        "tz@example.com",
        "-u",
        "OPS@example.com",
    )
    assert code == 0 and sorted(d["username"] for d in found) == [
        "ops@example.com",
        "tz@example.com",
    ]


def test_exec_gets_token_by_env_and_stdin_never_argv(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cmd = (
        f'printf "%s" "$INBOX_FINDER_TOKEN" > {out}/token; cat > {out}/stdin.json; '
        f"tr '\\0' ' ' < /proc/$$/cmdline > {out}/argv; "
        f'printf "%s" "$INBOX_FINDER_USERNAME" > {out}/user; printf "%s" "${{INBOX_FINDER_PASSWORD:-}}" > {out}/pw'
    )
    os.environ["INBOX_FINDER_PASSWORD"] = "mailbox-secret"
    try:
        code, found, _ = scan(
            capsys,
            f"mbox:{mbox}",
            "--state",
            str(tmp_path / "s"),
            "-u",
            "tz@example.com",
            "--exec",
            cmd,
        )
    finally:
        del os.environ["INBOX_FINDER_PASSWORD"]
    token = next(e.token for e in positives() if e.username == "tz@example.com")
    assert code == 0 and "token" not in found[0]
    assert (out / "token").read_text() == token
    assert json.loads((out / "stdin.json").read_text())["token"] == token
    assert token not in (out / "argv").read_text()
    assert (out / "user").read_text() == "tz@example.com"
    assert (out / "pw").read_text() == ""  # the mailbox password is not passed on


def test_failing_exec_is_exit_5_and_offered_again(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    state = str(tmp_path / "s")
    args = [f"mbox:{mbox}", "--state", state, "-u", "ops@example.com"]
    code, found, err = scan(capsys, *args, "--exec", "exit 7")
    assert (code, found) == (5, []) and "exited with status 7" in err
    assert positives()[0].token not in err
    code, found, _ = scan(capsys, *args, "--exec", "true")
    assert code == 0 and [d["username"] for d in found] == ["ops@example.com"]
    assert scan(capsys, *args, "--exec", "exit 7")[:2] == (0, [])


def test_write_env_updates_one_key_atomically(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    env = tmp_path / "app.env"
    env.write_text("# app settings\nSF_USER=dana@example.com\nexport SF_TOKEN=old\nOTHER=1\n")
    env.chmod(0o640)
    code, found, _ = scan(
        capsys,
        f"mbox:{mbox}",
        "--state",
        str(tmp_path / "s"),
        "-u",
        "dana@example.com",
        "--write-env",
        f"{env}:SF_TOKEN",
    )
    token = next(e.token for e in positives() if e.username == "dana@example.com")
    assert code == 0 and "token" not in found[0]
    assert env.read_text() == (
        f"# app settings\nSF_USER=dana@example.com\nexport SF_TOKEN={token}\nOTHER=1\n"
    )
    assert env.stat().st_mode & 0o777 == 0o640  # an existing file keeps its mode


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "corrupt"),
        ('{"hello": 1}', "not an inbox-finder state file"),
        ('{"format": "inbox-finder-scan-state", "version": 99}', "unsupported version"),
        ('{"format": "inbox-finder-scan-state", "version": 1, "salt": "zz"}', "corrupt"),
    ],
)
def test_bad_state_file_is_exit_2_not_a_reset(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path, content: str, message: str
) -> None:
    state = tmp_path / "s"
    state.write_text(content)
    code, found, err = scan(capsys, f"mbox:{mbox}", "--state", str(state))
    assert (code, found) == (2, []) and message in err
    assert state.read_text() == content


def test_state_of_another_source_is_refused(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    state = str(tmp_path / "s")
    scan(capsys, f"mbox:{mbox}", "--state", state)
    other = build_mbox(tmp_path / "other.mbox")
    code, _, err = scan(capsys, f"mbox:{other}", "--state", state)
    assert code == 2 and "another source" in err


def test_concurrent_scans_lose_nothing(mbox: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    state = tmp_path / "s"
    cmd = [
        EXE,
        "scan",
        f"mbox:{mbox}",
        "--state",
        str(state),
        "--exec",
        f'echo "$INBOX_FINDER_USERNAME" >> {log}; sleep 0.05',
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL) for _ in range(4)]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    reported = log.read_text().splitlines()
    # Every username (the legacy mail has none: "") reported exactly once across all scans.
    assert sorted(reported) == sorted({e.username or "" for e in positives()})
    json.loads(state.read_text())


def test_wait_returns_when_the_mail_arrives(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    token = new_token()

    def deliver() -> None:
        time.sleep(1.2)
        append_mbox(
            mbox, token_mail(token, "dana@example.com", datetime.now(UTC) + timedelta(seconds=1))
        )

    threading.Thread(target=deliver).start()
    start = time.monotonic()
    code = main(["find", f"mbox:{mbox}", "-q", "--wait", "20s", "--interval", "0.2s"])
    out, _ = capsys.readouterr()
    assert (code, out.strip()) == (0, token)
    assert time.monotonic() - start < 15


def test_watch_reacts_and_stops_on_sigterm(mbox: Path, tmp_path: Path) -> None:
    state = tmp_path / "s"
    subprocess.run(
        [EXE, "scan", f"mbox:{mbox}", "--state", str(state)], check=True, capture_output=True
    )
    proc = subprocess.Popen(
        [
            EXE,
            "--verbose",
            "watch",
            f"mbox:{mbox}",
            "--state",
            str(state),
            "--interval",
            "0.2s",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        token = new_token()
        append_mbox(mbox, token_mail(token, "ops@example.com"))
        line = proc.stdout.readline() if proc.stdout else ""
        assert json.loads(line)["token"] == token
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
    assert "heartbeat" in (proc.stderr.read() if proc.stderr else "")
