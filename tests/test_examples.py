"""Every shipped example runs: the crontab line and cron-find.sh under /bin/sh as cron runs them,
the systemd units through ``systemd-analyze verify`` and their ExecStart lines, and the Python
examples against the demo mailbox."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from corpus_util import UNREADABLE, build_maildir, positives
from dovecot import DovecotServer
from mailgen import new_token, token_mail

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEMO = EXAMPLES / "demo.mbox"
EXE = Path(sys.executable).with_name("inbox-finder")
UNITS = sorted((EXAMPLES / "systemd").iterdir())
DANA = next(e.token or "" for e in positives() if e.username == "dana@example.com")
ALL_TOKENS = [e.token or "" for e in positives()]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home laid out as the examples expect: the tool in ~/.local/bin, config, ~/etl."""
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "inbox-finder").symlink_to(EXE)
    (home / ".config" / "inbox-finder").mkdir(parents=True)
    (home / "etl").mkdir()
    return home


def configure(home: Path, url: str, **keys: str) -> None:
    """``[mailbox.work]`` as in examples/config.toml, pointing at a test mailbox."""
    lines = ["[mailbox.work]", f'url = "{url}"']
    if url.startswith(("imap://", "imaps://")):  # a local mailbox takes no password keys
        lines.append('password_env = "WORK_IMAP_PASSWORD"')
    lines += [f'{k} = "{v}"' for k, v in keys.items()]
    (home / ".config" / "inbox-finder" / "config.toml").write_text("\n".join(lines) + "\n")


def write_secrets(home: Path, password: str) -> None:
    """secrets.env as the examples describe it: systemd-style KEY=value lines, 0600."""
    path = home / ".config" / "inbox-finder" / "secrets.env"
    path.write_text(f"# mailbox password for [mailbox.work]\nWORK_IMAP_PASSWORD={password}\n")
    path.chmod(0o600)


def cron_env(home: Path) -> dict[str, str]:
    """The environment cron gives a job (see crontab(5))."""
    return {"HOME": str(home), "LOGNAME": "root", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}


def crontab_command() -> str:
    """The command of the one job line in examples/crontab."""
    jobs = [
        line
        for line in (EXAMPLES / "crontab").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(jobs) == 1
    fields = jobs[0].split(None, 5)
    assert len(fields) == 6 and "%" not in fields[5]  # cron turns % into newlines
    return fields[5]


def sh(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", *argv],
        env=cron_env(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_no_token(*texts: str) -> None:
    for text in texts:
        assert not any(token in text for token in ALL_TOKENS)


# ---------------------------------------------------------------- crontab and cron-find.sh


def test_crontab_line_delivers_silently_from_a_maildir(home: Path, tmp_path: Path) -> None:
    maildir = build_maildir(tmp_path / "Maildir", exclude=UNREADABLE)
    configure(home, f"maildir:{maildir}")
    write_secrets(home, "not-needed-for-a-maildir")
    done = sh(home, "-c", crontab_command())
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (home / "etl" / ".env").read_text() == f"SF_SECURITY_TOKEN={DANA}\n"
    state_dir = home / ".local" / "state" / "inbox-finder"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    token = new_token()
    (maildir / "new" / f"{int(time.time())}.M1P1.host").write_bytes(
        token_mail(token, "dana@example.com")
    )
    done = sh(home, "-c", crontab_command())
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (home / "etl" / ".env").read_text() == f"SF_SECURITY_TOKEN={token}\n"


def test_crontab_line_and_cron_find_read_secrets_env_for_imap(
    dovecot: DovecotServer, home: Path
) -> None:
    user, password = dovecot.new_user("cron")
    token = new_token()
    dovecot.append(user, token_mail(token, "dana@example.com"), datetime.now(UTC))
    configure(home, dovecot.url(user), ca_file=dovecot.ca_file)
    write_secrets(home, password)
    done = sh(home, "-c", crontab_command())
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), done.stderr
    assert (home / "etl" / ".env").read_text() == f"SF_SECURITY_TOKEN={token}\n"
    done = sh(home, str(EXAMPLES / "cron-find.sh"), "work", "dana@example.com")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), done.stderr
    assert password not in done.stdout + done.stderr


def test_cron_find_mails_one_warning_when_a_newer_token_mail_is_unreadable(
    home: Path, tmp_path: Path
) -> None:
    # The whole corpus: a Salesforce-looking token mail newer than dana's, with no token of its
    # own. All is not well (the answer may be stale), so cron mails exactly that one line.
    configure(home, f"maildir:{build_maildir(tmp_path / 'Maildir')}")
    done = sh(home, str(EXAMPLES / "cron-find.sh"), "work", "dana@example.com")
    assert (done.returncode, done.stdout) == (0, "")
    [line] = done.stderr.splitlines()
    assert "yielded no token" in line and "may not be the newest" in line
    assert_no_token(done.stderr)


def test_cron_find_is_silent_when_found_and_one_line_otherwise(home: Path, tmp_path: Path) -> None:
    configure(home, f"maildir:{build_maildir(tmp_path / 'Maildir', exclude=UNREADABLE)}")
    script = str(EXAMPLES / "cron-find.sh")
    done = sh(home, script, "work", "dana@example.com")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    done = sh(home, script, "work", "nobody@example.com")
    assert done.returncode == 1 and done.stdout == ""
    assert (
        done.stderr.splitlines()[-1] == "cron-find: no token email for nobody@example.com in work"
    )
    done = sh(home, script, "nosuchprofile", "dana@example.com")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == "cron-find: inbox-finder exited with status 2"
    assert sh(home, script).returncode != 0  # usage
    assert_no_token(done.stdout, done.stderr)
    assert os.access(EXAMPLES / "cron-find.sh", os.X_OK)


# ---------------------------------------------------------------- systemd units


def service_keys(unit: Path, home: Path) -> dict[str, str]:
    """The [Service] keys of a unit, continuation lines joined, %h and %S (user unit) filled."""
    keys: dict[str, str] = {}
    section = None
    for raw in unit.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            value = value.replace("%h", str(home)).replace("%S", str(home / ".local" / "state"))
            assert "%" not in value, f"{unit.name}: unexpected specifier in {value}"
            keys[key] = value
    return keys


def environment_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (no quotes used here)."""
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value
    return env


def start_service(home: Path, unit: str) -> subprocess.Popen[str]:
    keys = service_keys(EXAMPLES / "systemd" / unit, home)
    state = home / ".local" / "state" / keys["StateDirectory"]
    state.mkdir(parents=True, exist_ok=True, mode=int(keys["StateDirectoryMode"], 8))
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    env |= environment_file(Path(keys["EnvironmentFile"]))
    return subprocess.Popen(
        shlex.split(keys["ExecStart"]),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def install_hook(home: Path, config: Path) -> None:
    """%h/bin/rotate-sf-token: the shipped Python hook updating a simple-salesforce config."""
    (home / "bin").mkdir(exist_ok=True)
    hook = home / "bin" / "rotate-sf-token"
    rotate = EXAMPLES / "rotate_simple_salesforce_config.py"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} {rotate} {config}\n")
    hook.chmod(0o755)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_units_verify_cleanly(home: Path, tmp_path: Path) -> None:
    install_hook(home, home / "etl" / "salesforce.json")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    done = subprocess.run(
        ["systemd-analyze", "--user", "verify", *map(str, UNITS)],
        env={"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert {u.name for u in UNITS} == {
        "inbox-finder-scan.service",
        "inbox-finder-scan.timer",
        "inbox-finder-watch.service",
    }


def test_scan_service_writes_the_env_file_and_logs_no_token(home: Path, tmp_path: Path) -> None:
    configure(home, f"maildir:{build_maildir(tmp_path / 'Maildir')}")
    write_secrets(home, "unused")
    proc = start_service(home, "inbox-finder-scan.service")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (home / "etl" / ".env").read_text() == f"SF_SECURITY_TOKEN={DANA}\n"
    assert f"Delivered: SF_SECURITY_TOKEN in {home}/etl/.env" in out
    assert_no_token(out, err)  # both go to the journal


def test_watch_service_runs_the_python_hook_and_stops_on_sigterm(home: Path) -> None:
    configure(home, f"mbox:{DEMO}")
    write_secrets(home, "unused")
    config = home / "etl" / "salesforce.json"
    config.write_text(json.dumps({"username": "dana@example.com", "security_token": "old"}))
    config.chmod(0o640)
    install_hook(home, config)
    proc = start_service(home, "inbox-finder-watch.service")
    try:
        deadline = time.monotonic() + 60
        while json.loads(config.read_text())["security_token"] == "old":
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)  # the reports of the same scan
        proc.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(config.read_text()) == {
        "username": "dana@example.com",
        "security_token": DANA,
    }
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert "rotated token for dana@example.com" in err and "heartbeat" in err
    assert "Delivered: --exec command exited 0" in out
    assert_no_token(out, err)


# ---------------------------------------------------------------- Python examples


def test_rotate_hook_updates_only_its_username_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"username": "dana@example.com", "password": "pw"}))
    link = tmp_path / "salesforce.json"
    link.symlink_to(real)
    hook = f"{sys.executable} {EXAMPLES / 'rotate_simple_salesforce_config.py'} {link}"
    args = [str(EXE), "scan", f"mbox:{DEMO}", "--state", str(tmp_path / "s"), "-q", "--exec", hook]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {
        "username": "dana@example.com",
        "password": "pw",
        "security_token": DANA,
    }
    assert done.stderr.count("rotated token") == 1
    assert_no_token(done.stderr)


@pytest.mark.skipif(
    importlib.util.find_spec("simple_salesforce") is not None,
    reason="with simple-salesforce installed the example logs in to Salesforce",
)
def test_simple_salesforce_login_example_finds_the_token() -> None:
    script = str(EXAMPLES / "simple_salesforce_login.py")
    done = subprocess.run(
        [sys.executable, script, f"mbox:{DEMO}", "dana@example.com"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "token for dana@example.com received 2023-09-14 10:03 UTC",
        "simple-salesforce is not installed; would log in now with this token",
    ]
    done = subprocess.run(
        [sys.executable, script, f"mbox:{DEMO}", "nobody@example.com"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and done.stderr.startswith("no token:")
