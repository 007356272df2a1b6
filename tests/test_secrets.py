"""No secret in any log line at DEBUG: IMAP lookups, scans with --exec, local mailboxes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from corpus_util import build_mbox, load_expected, positives

from inbox_finder.cli.main import main
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing.dovecot import DovecotServer

TOKENS = [e.token for e in positives() if e.token]
PASSWORD = "s3cr3t-Pässwörd-#42"


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in (*TOKENS, *secrets):
        assert secret not in text, f"secret leaked: …{secret[-4:]}"


@pytest.fixture
def imap_source(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> str:
    user, _ = dovecot.new_user("sec", password=PASSWORD)
    dovecot.append_many(user, [(e.raw, e.received) for e in load_expected()])
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return dovecot.url(user)


def run_debug(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *args: str
) -> tuple[int, str, str]:
    caplog.set_level(logging.DEBUG)
    code = main(["--debug", *args])
    out, err = capsys.readouterr()
    return code, out, err + "\n".join(r.getMessage() for r in caplog.records)


def test_imap_find_all_at_debug_logs_no_secret(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    dovecot: DovecotServer,
    imap_source: str,
) -> None:
    code, out, logs = run_debug(
        capsys, caplog, "find", imap_source, "--ca-file", dovecot.ca_file, "--all", "--json"
    )
    assert code == 0 and positives()[0].token in out  # stdout carries the results…
    assert "UID FETCH" in logs or "FETCH" in logs  # …and the log really was at DEBUG
    _assert_clean(logs, PASSWORD)


def test_imap_scan_with_exec_logs_no_secret(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    dovecot: DovecotServer,
    imap_source: str,
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    code, _, logs = run_debug(
        capsys,
        caplog,
        "scan",
        imap_source,
        "--ca-file",
        dovecot.ca_file,
        "--state",
        str(state),
        "--exec",
        'test -n "$INBOX_FINDER_TOKEN"',
        "--write-env",
        f"{tmp_path}/app.env:SF_TOKEN",
    )
    assert code == 0
    _assert_clean(logs, PASSWORD)
    _assert_clean(state.read_text(), PASSWORD)
    assert (tmp_path / "app.env").stat().st_mode & 0o777 == 0o600


def test_wrong_password_error_names_no_secret(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    dovecot: DovecotServer,
    imap_source: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "wrong-" + PASSWORD
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    code = main(["find", imap_source, "--ca-file", dovecot.ca_file])
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    _assert_clean(err + caplog.text, wrong, PASSWORD)


def test_local_lookup_at_debug_logs_no_token(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    box = build_mbox(tmp_path / "m.mbox")
    code, _, logs = run_debug(capsys, caplog, "find", f"mbox:{box}", "--per-username", "-q")
    assert code == 0 and "token mail" in logs
    _assert_clean(logs)


def test_secret_files_readable_by_others_are_refused(tmp_path: Path) -> None:
    from inbox_finder.errors import ConfigError
    from inbox_finder.fileutil import require_private, write_private

    path = tmp_path / "creds.json"
    write_private(path, "{}")
    assert path.stat().st_mode & 0o777 == 0o600
    require_private(path, "credentials file")  # fine
    for mode in (0o640, 0o604):
        path.chmod(mode)
        with pytest.raises(ConfigError, match="readable by other users"):
            require_private(path, "credentials file")
    require_private(tmp_path / "missing.json", "credentials file")  # reported by the caller
