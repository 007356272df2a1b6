"""scan/watch over several sources: --state-dir, failure isolation, serial actions, shards."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_many_sources import maildir

from inbox_finder.cli.main import main
from inbox_finder.errors import ExitCode, MailboxError
from inbox_finder.many import SourceFailure
from inbox_finder.scan.many import Outcome, PollLoop, state_file_name
from inbox_finder.scan.runner import ScanResult
from inbox_finder.testing.dovecot import free_port
from inbox_finder.testing.mail import new_token, token_mail


def write_config(path: Path, profiles: dict[str, str]) -> str:
    lines = [f'[mailbox.{name}]\nurl = "{url}"' for name, url in profiles.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def three(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Three Maildir profiles, one token each (different usernames), and a config."""
    tok = {name: new_token() for name in ("a", "b", "c")}
    urls = {
        name: maildir(tmp_path / name, (i, tok[name], f"{name}@example.com"))
        for i, name in enumerate(tok)
    }
    paths = {f"url_{name}": url for name, url in urls.items()}
    return write_config(tmp_path / "config.toml", urls), {**tok, **paths}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_state_dir_first_run_reports_each_source_then_nothing(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    states = tmp_path / "new" / "states"
    args = ("scan", "--config", cfg, "--all-profiles", "--state-dir", str(states), "--json")
    old = os.umask(0o022)
    try:
        code, out, err = run(capsys, *args)
    finally:
        os.umask(old)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["token"] for line in lines) == sorted(t[n] for n in "abc")
    assert {line["source"] for line in lines} == {t[f"url_{n}"] for n in "abc"}  # says where
    assert stat.S_IMODE(states.stat().st_mode) == 0o700
    names = sorted(p.name for p in states.iterdir() if not p.name.endswith(".lock"))
    assert names == ["a.state", "b.state", "c.state"]
    assert all(stat.S_IMODE((states / n).stat().st_mode) == 0o600 for n in names)
    assert run(capsys, *args)[:2] == (0, "")


def test_state_file_names_never_hold_a_password() -> None:
    with_pw = "imaps://dana:hunter2secret@imap.example.com/INBOX"
    name = state_file_name(with_pw)
    assert "hunter2secret" not in name and name.startswith("url-") and name.endswith(".state")
    assert name == state_file_name("imaps://dana@IMAP.example.com:993/INBOX")  # one mailbox
    assert name != state_file_name("imaps://other@imap.example.com/INBOX")
    assert state_file_name("work") == "work.state"
    assert state_file_name("../evil").startswith("profile-")  # never a path
    assert state_file_name("url-x") != "url-x.state"  # a profile never takes a URL's name


def test_state_options_are_usage_errors(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = three
    code, _, err = run(capsys, "scan", "--config", cfg, "a", "b", "--state", str(tmp_path / "s"))
    assert code == ExitCode.USAGE and "--state-dir" in err
    code, _, err = run(capsys, "scan", "--config", cfg, "a")
    assert code == ExitCode.USAGE and "missing --state FILE" in err
    both = ("--state", str(tmp_path / "s"), "--state-dir", str(tmp_path / "d"))
    code, _, err = run(capsys, "watch", "--config", cfg, "a", *both)
    assert code == ExitCode.USAGE and "exclude each other" in err


def test_single_source_with_state_keeps_working(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    code, out, _ = run(capsys, "scan", "--config", cfg, "b", "--state", str(tmp_path / "b.json"))
    assert code == 0 and t["b"] in out


def test_a_failing_source_is_isolated_and_its_state_untouched(
    three: tuple[str, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg, t = three
    monkeypatch.setenv("INBOX_FINDER_PASSWORD", "env-password-1234")
    states = tmp_path / "states"
    with_pw = f"imaps://dana:pw-in-url@127.0.0.1:{free_port()}"  # refused: exit 2
    closed = f"imaps://dana@127.0.0.1:{free_port()}"  # nothing listens there: exit 4
    got = tmp_path / "delivered"
    got.mkdir()
    hook = f'printf %s "$INBOX_FINDER_TOKEN" > {got}/"$INBOX_FINDER_USERNAME"'
    args = ("scan", "--config", cfg, "a", with_pw, closed, "c", "--state-dir", str(states))
    code, out, err = run(capsys, *args, "-q", "--exec", hook)
    assert code == ExitCode.MAILBOX, err  # the highest failing code
    assert out == ""
    lines = err.splitlines()
    assert lines[-1] == "inbox-finder: 2 of 4 sources failed"
    assert sum(line.startswith("inbox-finder: error: imaps://dana:…@") for line in lines) == 1
    assert sum(line.startswith(f"inbox-finder: error: {closed}: ") for line in lines) == 1
    assert "pw-in-url" not in err and "env-password-1234" not in err
    assert not (states / state_file_name(with_pw)).exists()
    assert not (states / state_file_name(closed)).exists()
    assert (states / "a.state").exists() and (states / "c.state").exists()
    delivered = {p.name: p.read_text() for p in got.iterdir()}  # the others' actions ran
    assert delivered == {"a@example.com": t["a"], "c@example.com": t["c"]}
    # the others' tokens were delivered: a second run has nothing new for them
    code, out, _ = run(capsys, "scan", "--config", cfg, "a", "c", "--state-dir", str(states))
    assert (code, out) == (0, "")


def test_an_action_failure_is_exit_5_and_offered_again(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = three
    states = str(tmp_path / "states")
    fail_b = 'test "$INBOX_FINDER_USERNAME" != b@example.com'
    base = ("scan", "--config", cfg, "--all-profiles", "--state-dir", states, "--json")
    code, out, err = run(capsys, *base, "--exec", fail_b)
    assert code == ExitCode.ACTION
    assert {json.loads(line)["username"] for line in out.splitlines()} == {
        "a@example.com",
        "c@example.com",
    }
    assert "inbox-finder: error: b: action failed for b@example.com" in err
    assert err.splitlines()[-1] == "inbox-finder: 1 of 3 sources failed"
    code, out, _ = run(capsys, *base, "--exec", "true")
    assert code == 0 and [json.loads(line)["username"] for line in out.splitlines()] == [
        "b@example.com"
    ]


def test_write_env_from_many_sources_keeps_every_key(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    env = tmp_path / "tokens.env"
    states = str(tmp_path / "states")
    for name in "abc":  # three runs, each its own key, concurrently with --jobs 3
        code, _, err = run(
            capsys,
            *("scan", "--config", cfg, name, "--state-dir", states, "-q"),
            *("--write-env", f"{env}:TOKEN_{name.upper()}", "--jobs", "3"),
        )
        assert code == 0, err
    text = env.read_text()
    assert all(f"TOKEN_{n.upper()}={t[n]}" in text for n in "abc")


def test_symlinked_state_file_is_written_through(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = three
    states = tmp_path / "states"
    states.mkdir(mode=0o755)
    real = tmp_path / "elsewhere.state"
    (states / "a.state").symlink_to(real)
    code, _, err = run(capsys, "scan", "--config", cfg, "a", "b", "--state-dir", str(states))
    assert code == 0, err
    assert (states / "a.state").is_symlink() and json.loads(real.read_text())["format"]
    assert stat.S_IMODE(states.stat().st_mode) == 0o755  # an existing directory is kept


def test_shards_split_the_scan(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    seen: list[str] = []
    for k in range(3):
        code, out, err = run(
            capsys,
            *("scan", "--config", cfg, "--all-profiles", "--shard", f"{k}/3"),
            *("--state-dir", str(tmp_path / f"s{k}"), "-j", "2", "--json"),
        )
        assert code == 0, err
        seen += [json.loads(line)["token"] for line in out.splitlines()]
    assert sorted(seen) == sorted(t[n] for n in "abc")


def test_poll_loop_backs_off_a_failing_source_only() -> None:
    now = [0.0]
    scanned: list[list[str]] = []

    def scan_due(sources: Sequence[str]) -> list[Outcome]:
        scanned.append(list(sources))
        return [
            Outcome(s, failure=SourceFailure(s, s, MailboxError("down")))
            if s == "bad"
            else Outcome(s, result=ScanResult())
            for s in sources
        ]

    loop = PollLoop(["good", "bad"], scan_due, 60.0, clock=lambda: now[0])
    for minute in range(6):
        now[0] = minute * 60.0
        loop.round()
    # "bad" waits 60 s, then 120 s, then 240 s ...: scanned at 0, 60, 180 s; "good" every round.
    assert [s.count("good") for s in scanned] == [1] * 6
    assert [i for i, s in enumerate(scanned) if "bad" in s] == [0, 1, 3]


def test_watch_many_stops_on_the_event(
    three: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = threading.Event()
    rounds: list[int] = []

    def scan_due(sources: Sequence[str]) -> list[Outcome]:
        rounds.append(len(sources))
        return [Outcome(s, result=ScanResult()) for s in sources]

    def sleep(seconds: float, event: threading.Event) -> None:
        if len(rounds) == 2:
            event.set()

    PollLoop(["x", "y"], scan_due, 5.0, sleep=sleep).run(stop)
    assert rounds == [2, 2]


def test_watch_polls_several_sources_and_stops_on_sigterm(
    three: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    cfg, t = three
    exe = Path(sys.executable).with_name("inbox-finder")
    argv = [str(exe), "watch", "--config", cfg, "--all-profiles", "--state-dir"]
    argv += [str(tmp_path / "states"), "--interval", "1s", "--json"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        first = {json.loads(child.stdout.readline())["token"] for _ in range(3)}
        assert first == {t["a"], t["b"], t["c"]}
        fresh = new_token()
        at = datetime.now(UTC)
        mailbox.Maildir(t["url_b"][len("maildir:") :]).add(token_mail(fresh, "b@example.com", at))
        assert json.loads(child.stdout.readline())["token"] == fresh  # the next poll has it
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
