"""--exec-timeout: a command that runs too long is killed with everything it started."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from corpus_util import build_mbox

from inbox_finder.cli.main import main


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes counts as dead)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


@pytest.mark.parametrize("ignores_term", [False, True])
def test_timeout_kills_the_whole_process_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ignores_term: bool
) -> None:
    mbox = build_mbox(tmp_path / "inbox.mbox")
    pids = tmp_path / "pids"
    trap = "trap '' TERM; " if ignores_term else ""
    # A grandchild in the background, and one more below it: neither may survive the timeout.
    hook = f"{trap}sh -c 'sleep 1000 & echo $! >> {pids}; wait' & echo $! >> {pids}; wait"
    start = time.monotonic()
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "-u", "dana@example.com"]
    code = main([*args, "--exec", hook, "--exec-timeout", "1s"])
    elapsed = time.monotonic() - start
    _, err = capsys.readouterr()
    assert code == 5
    assert "timed out after 1s" in err and "process group was killed" in err
    assert elapsed < 10
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    assert all(wait_dead(pid) for pid in started), [p for p in started if alive(p)]
    # A timed-out delivery is a failed one: offered again on the next run.
    assert main([*args, "--exec", "true", "--json"]) == 0
    assert '"username": "dana@example.com"' in capsys.readouterr().out


def test_a_command_within_the_limit_succeeds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mbox = build_mbox(tmp_path / "inbox.mbox")
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "-u", "dana@example.com"]
    assert main([*args, "--exec", "sleep 0.3", "--exec-timeout", "20s", "-q"]) == 0
    assert capsys.readouterr() == ("", "")


def test_exec_timeout_is_documented_and_validated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["scan", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--exec-timeout DURATION" in help_text and "default: 300s" in help_text
    mbox = build_mbox(tmp_path / "inbox.mbox")
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s"), "--exec", "true"]
    assert main([*args, "--exec-timeout", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert os.path.exists(mbox)
