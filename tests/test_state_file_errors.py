"""The scan state file's failure modes, exactly: each bad file is a ConfigError naming the file
and what is wrong; a state that cannot be written is an ActionError that says what happens next;
the lock file is private, never a symlink or a special file, and a waiting scan says so once."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from findings import make_finding

from inbox_finder.errors import ActionError, ConfigError
from inbox_finder.model import Finding
from inbox_finder.scan.state import ScanState, StateLockedError, load_state, locked

WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)
GOOD = {"format": "inbox-finder-scan-state", "version": 1, "salt": "ab" * 16}


TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"


def finding(token: str = TOKEN) -> Finding:
    return make_finding(token, WHEN)


def refused(path: Path, why: str) -> str:
    return (
        f"state file {path} is {why}; move it away to start over (every current token will "
        "be reported again)"
    )


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "corrupt (not JSON)"),
        ("[1, 2]", "not an inbox-finder state file"),
        ('{"format": "other"}', "not an inbox-finder state file"),
        ('{"format": "inbox-finder-scan-state", "version": 7}', "of unsupported version 7"),
        ('{"format": "inbox-finder-scan-state"}', "of unsupported version None"),
        (json.dumps({**GOOD, "usernames": {}}), "corrupt (missing or malformed fields)"),
        (
            json.dumps(
                {
                    **GOOD,
                    "source": None,
                    "cursor": None,
                    "usernames": {"k": {"fingerprint": "f", "received": "2024-05-01T12:00:00"}},
                }
            ),
            "corrupt (naive times)",
        ),
    ],
)
def test_each_bad_file_is_named_with_what_is_wrong(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_state(path)
    assert str(info.value) == refused(path, why)


def test_unreadable_files(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        load_state(folder)
    assert str(info.value) == refused(folder, "unreadable (IsADirectoryError)")
    binary = tmp_path / "binary"
    binary.write_bytes(b'{"salt": "\xff\xfe"}')
    with pytest.raises(ConfigError) as info:
        load_state(binary)
    assert str(info.value) == refused(binary, "unreadable (UnicodeDecodeError)")


def test_a_saved_state_loads_back_and_remembers_the_token(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = load_state(path)
    assert state.is_new
    state.record(finding())
    state.save()
    assert state.is_new is False
    again = load_state(path)
    assert again.is_new is False
    assert not again.is_new_finding(finding())  # the same token: not new
    assert again.is_new_finding(finding("Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2R")) is False  # same time
    assert json.loads(path.read_text()) == json.loads(again.to_json())
    assert path.read_text() == again.to_json() and path.read_text().count("\n") > 5


def test_a_state_that_cannot_be_written_says_what_happens_next(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "state.json"
    state = ScanState(path)
    with pytest.raises(ActionError) as info:
        state.save()
    assert str(info.value) == (
        f"cannot write the state file {path}: directory {path.parent} does not exist; the "
        "tokens just delivered will be offered again"
    )
    assert not path.parent.exists()  # the directory is not created
    assert state.is_new


def test_lock_file_is_private_and_never_a_symlink_or_special(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with locked(path, timeout=1):
        pass
    lock = tmp_path / "state.json.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    lock.unlink()
    lock.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ActionError) as info, locked(path, timeout=1):
        pass
    assert str(info.value) == f"refusing to use the lock file {lock}: it is a symlink"
    assert not (tmp_path / "elsewhere").exists()
    lock.unlink()
    lock.mkdir()
    with pytest.raises(ActionError) as info, locked(path, timeout=1):
        pass
    assert str(info.value) == f"refusing to use the lock file {lock}: it is a directory"
    lock.rmdir()
    os.mkfifo(lock)
    with pytest.raises(ActionError) as info, locked(path, timeout=1):
        pass
    assert str(info.value) == f"refusing to use the lock file {lock}: not a regular file"


def test_a_waiting_scan_says_so_once_and_proceeds_soon_after_release(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    lock = tmp_path / "state.json.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    release = threading.Timer(0.5, os.close, (fd,))
    caplog.set_level(logging.WARNING, logger="inbox_finder.scan.state")
    started = time.monotonic()
    release.start()
    try:
        with locked(path, timeout=5):
            waited = time.monotonic() - started
    finally:
        release.join()
    assert 0.5 <= waited < 0.9  # polls at most every 0.2 s
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"another scan holds {lock}; waiting up to 5s"]


def test_a_held_lock_times_out_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    lock = tmp_path / "state.json.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        with pytest.raises(StateLockedError) as info, locked(path, timeout=0.3):
            pass
        assert time.monotonic() - started < 0.6
    finally:
        os.close(fd)
    assert str(info.value) == f"another scan has held {lock} for more than 0.3s; giving up"


def test_a_state_file_in_a_missing_folder_cannot_be_locked(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "state.json"
    with pytest.raises(ActionError) as info, locked(path, timeout=1):
        pass
    assert str(info.value) == (
        f"cannot use the state file {path}: directory {path.parent} does not exist"
    )
