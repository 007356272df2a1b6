"""What scan and watch print: the token only when no action receives it; nothing with -q."""

from __future__ import annotations

import json
import mailbox
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from corpus_util import build_mbox, positives
from mailgen import new_token, token_mail

from inbox_finder.cli.main import main

EXE = str(Path(sys.executable).with_name("inbox-finder"))
TOKENS = [e.token or "" for e in positives()]


@pytest.fixture
def mbox(tmp_path: Path) -> Path:
    return build_mbox(tmp_path / "inbox.mbox")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_write_env_report_names_the_delivery_but_never_the_token(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    env = tmp_path / "x.env"
    code, out, err = run(
        capsys, "scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "--write-env", f"{env}:T"
    )
    assert code == 0 and err == ""
    assert not any(t in out for t in TOKENS)
    assert "Token:" not in out
    users = {e.username for e in positives() if e.username}
    assert all(f"Username:  {u}" in out for u in users)
    assert out.count(f"Delivered: T in {env}") == len({e.username for e in positives()})
    assert f"T={TOKENS[0]}" in env.read_text()  # newest written last


def test_exec_json_objects_carry_no_token_key(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "--json", "--exec", "true"]
    code, out, _ = run(capsys, *args, "-u", "dana@example.com")
    assert code == 0 and not any(t in out for t in TOKENS)
    (found,) = [json.loads(line) for line in out.splitlines()]
    assert "token" not in found
    assert found["username"] == "dana@example.com"
    assert found["received"] == next(
        e.received.isoformat() for e in positives() if e.username == "dana@example.com"
    )
    assert found["delivered"] == [{"action": "exec", "status": 0}]


def test_without_an_action_the_token_is_printed(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "-u", "dana@example.com"]
    code, out, _ = run(capsys, *args)
    dana = next(e.token for e in positives() if e.username == "dana@example.com")
    assert code == 0 and f"Token:     {dana}" in out


def test_quiet_prints_nothing_on_success_and_errors_on_stderr(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    env = tmp_path / "x.env"
    state = str(tmp_path / "s")
    code, out, err = run(
        capsys, "scan", f"mbox:{mbox}", "--state", state, "-q", "--write-env", f"{env}:T"
    )
    assert (code, out, err) == (0, "", "")
    assert f"T={TOKENS[0]}" in env.read_text()
    box = tmp_path / "other.mbox"
    build_mbox(box)
    code, out, err = run(
        capsys, "scan", f"mbox:{box}", "--state", str(tmp_path / "s2"), "--quiet", "--exec", "false"
    )
    assert code == 5 and out == "" and "exited with status 1" in err
    assert not any(t in err for t in TOKENS)


def test_quiet_and_json_exclude_each_other(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, "scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "-q", "--json"
    )
    assert code == 2 and out == "" and "exclude each other" in err
    assert not (tmp_path / "s").exists()


def test_watch_with_exec_reports_without_the_token(mbox: Path, tmp_path: Path) -> None:
    state, got = tmp_path / "s", tmp_path / "got"
    subprocess.run(
        [EXE, "scan", f"mbox:{mbox}", "--state", str(state), "-q"], check=True, timeout=60
    )
    cmd = [EXE, "watch", f"mbox:{mbox}", "--state", str(state), "--interval", "0.2s"]
    cmd += ["--json", "--exec", f'printf %s "$INBOX_FINDER_TOKEN" > {got}']
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        token = new_token()
        box = mailbox.mbox(str(mbox))
        msg = mailbox.mboxMessage(token_mail(token, "ops@example.com"))
        msg.set_from("MAILER-DAEMON", datetime.now(UTC).utctimetuple())
        box.add(msg)
        box.close()
        line = proc.stdout.readline() if proc.stdout else ""
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    report = json.loads(line)
    assert report["username"] == "ops@example.com" and "token" not in report
    assert token not in line + out
    assert got.read_text() == token
