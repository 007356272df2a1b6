"""Secret sources: a command's first line is the secret; CR, LF and NUL are refused everywhere.

Commands are real programs (printf, the Python interpreter); the keyring is the real keyring
package with an in-memory backend; the IMAP end-to-end check logs in to a real Dovecot.
"""

from __future__ import annotations

import io
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from corpus_util import positives
from dovecot import DovecotServer
from keyring.backend import KeyringBackend

from inbox_finder.cli.main import main
from inbox_finder.errors import AuthError, ExitCode
from inbox_finder.salesforce.credentials import (
    SF_PASSWORD_ENV,
    describe_salesforce_password,
    salesforce_password,
)
from inbox_finder.secret_sources import (
    PASSWORD_ENV,
    describe_secret,
    imap_password,
    imap_password_sources,
    oauth_token,
)

PASS_SHOW = "printf 'pw-first\\nlogin: dana\\nurl: imap.example.com\\n'"  # like `pass show`


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict (never the developer's keyring)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture(autouse=True)
def ring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(SF_PASSWORD_ENV, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("no prompt expected"))
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def py_print(text: str) -> str:
    return shlex.join([sys.executable, "-c", f"import sys; sys.stdout.write({text!r})"])


def test_password_cmd_takes_the_first_line_of_pass_show_output() -> None:
    assert imap_password("u", "h", {"password_cmd": PASS_SHOW}) == "pw-first"


def test_sf_password_cmd_and_oauth_token_cmd_take_the_first_line_too() -> None:
    assert salesforce_password("dana@example.com", {"sf_password_cmd": PASS_SHOW}) == "pw-first"
    assert oauth_token("u", "h", {"oauth_token_cmd": PASS_SHOW}) == "pw-first"


def test_crlf_ending_and_a_missing_final_newline_are_fine() -> None:
    assert imap_password("u", "h", {"password_cmd": "printf 'pw\\r\\nnext\\r\\n'"}) == "pw"
    assert imap_password("u", "h", {"password_cmd": "printf pw"}) == "pw"


def test_an_empty_first_line_is_an_error_not_the_second_line() -> None:
    with pytest.raises(AuthError, match=r"printed nothing on its first line"):
        imap_password("u", "h", {"password_cmd": "printf '\\nsecond\\n'"})


@pytest.mark.parametrize(
    "output", ["p\rw\n", "pw\r\r\n", "p\0w\n"], ids=["inner CR", "double CR", "NUL"]
)
def test_a_command_secret_with_cr_or_nul_is_refused(output: str) -> None:
    with pytest.raises(AuthError, match="contains a line break or NUL") as info:
        imap_password("u", "h", {"password_cmd": py_print(output)})
    assert "profile password_cmd" in str(info.value) and "p\0w" not in str(info.value)


def test_an_env_password_with_a_newline_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "hunter2\nA1 LOGOUT")
    with pytest.raises(AuthError, match=r"from \$INBOX_FINDER_PASSWORD contains a line") as info:
        imap_password("u", "h", {})
    assert "hunter2" not in str(info.value)
    monkeypatch.setenv("WORK_SF", "sf-pw\r\n")
    with pytest.raises(AuthError, match="profile sf_password_env contains a line break"):
        salesforce_password("dana@example.com", {"sf_password_env": "WORK_SF"})


def test_a_keyring_password_with_a_newline_is_refused(ring: MemoryKeyring) -> None:
    keyring.set_password("inbox-finder", "u@h", "pw\nsecond")
    with pytest.raises(AuthError, match="from the keyring contains a line break"):
        imap_password("u", "h", {})
    keyring.set_password("inbox-finder-salesforce", "dana@example.com", "sf\r")
    with pytest.raises(AuthError, match="from the keyring contains a line break"):
        salesforce_password("dana@example.com", {})
    keyring.set_password("inbox-finder", "u@h", "fine")
    assert imap_password("u", "h", {}) == "fine"


def test_cli_refuses_a_multi_line_salesforce_password_with_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SF_PASSWORD_ENV, "sf-secret\nmore")
    monkeypatch.setattr("sys.stdin", io.StringIO("sf-secretTOKEN\n"))  # never read: fails first
    code = main(["split", "--username", "dana@example.com"])
    out, err = capsys.readouterr()
    assert code == ExitCode.AUTH and out == ""
    assert err.count("\n") == 1 and "line break" in err and "sf-secret" not in err


def test_describe_names_the_source_without_running_or_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ring: MemoryKeyring
) -> None:
    marker = tmp_path / "ran"
    cmd = shlex.join([sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    profile = {"password_cmd": cmd}
    assert describe_secret(imap_password_sources("u", "h", profile)) == f"from command `{cmd}`"
    assert not marker.exists()
    monkeypatch.setenv("WORK_PW", "x")
    profile = {"password_env": "WORK_PW", "password_cmd": cmd}
    assert describe_secret(imap_password_sources("u", "h", profile)) == "from $WORK_PW (set)"
    text = describe_secret(imap_password_sources("u", "h", {"password_env": "UNSET_PW_VAR"}))
    assert text == "from $UNSET_PW_VAR (not set)"
    ring.set_password("inbox-finder", "u@h", "never-shown")
    text = describe_secret(imap_password_sources("u", "h", {}))
    assert text == "keyring inbox-finder/u@h, else prompt (on a terminal)"
    assert "never-shown" not in text
    monkeypatch.setenv(PASSWORD_ENV, "x")
    assert describe_secret(imap_password_sources("u", "h", profile)) == (
        "from $INBOX_FINDER_PASSWORD (set)"
    )
    sf = describe_salesforce_password("dana@example.com", {})
    assert sf == "keyring inbox-finder-salesforce/dana@example.com, else prompt (on a terminal)"


def test_imap_login_with_a_pass_show_style_password_cmd(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotServer, tmp_path: Path
) -> None:
    user, password = dovecot.new_user("passcmd", password="pw-first")
    want = positives()[0]
    dovecot.append_many(user, [(want.raw, want.received)])
    config = tmp_path / "config.toml"
    config.write_text(
        f"[mailbox.work]\nurl = {dovecot.url(user)!r}\nca_file = {dovecot.ca_file!r}\n"
        f'password_cmd = "{PASS_SHOW.replace(chr(92), chr(92) * 2)}"\n',
        encoding="utf-8",
    )
    code = main(["--config", str(config), "find", "work", "-q"])
    out, err = capsys.readouterr()
    assert (code, out.strip()) == (0, want.token), err
    assert password == "pw-first"
