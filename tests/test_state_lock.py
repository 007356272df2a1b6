"""A scan waiting for another scan's state lock says so once and gives up after --lock-timeout."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from corpus_util import build_mbox

from inbox_finder.cli.main import main

EXE = str(Path(sys.executable).with_name("inbox-finder"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def hold_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_gives_up_after_the_lock_timeout_with_exit_4(tmp_path: Path) -> None:
    mbox = build_mbox(tmp_path / "inbox.mbox")
    fd = hold_lock(tmp_path / "s.lock")
    try:
        start = time.monotonic()
        done = subprocess.run(
            [EXE, "scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "--lock-timeout", "1s"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        elapsed = time.monotonic() - start
    finally:
        os.close(fd)
    assert done.returncode == 4 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len([line for line in lines if "waiting up to 1s" in line]) == 1, lines
    assert "held" in lines[-1] and "for more than 1s; giving up" in lines[-1]
    assert 1.0 <= elapsed < 15
    assert not (tmp_path / "s").exists()


def test_proceeds_when_the_other_scan_finishes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mbox = build_mbox(tmp_path / "inbox.mbox")
    fd = hold_lock(tmp_path / "s.lock")
    threading.Timer(0.8, os.close, (fd,)).start()
    code = main(["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "-q"])
    out, err = capsys.readouterr()
    assert (code, out) == (0, "")
    assert err.count("another scan holds") == 1 and "waiting up to 60s" in err
    assert (tmp_path / "s").exists()


def test_lock_timeout_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--lock-timeout DURATION" in help_text and "default: 60s" in help_text
