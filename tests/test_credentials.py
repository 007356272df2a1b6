"""Password sources: order, password_cmd without a shell, no secret in errors or logs."""

from __future__ import annotations

import logging
import shlex
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from inbox_finder.errors import AuthError, ConfigError
from inbox_finder.secret_sources import (
    PASSWORD_ENV,
    SecretSource,
    imap_password,
    oauth_token,
    resolve_secret,
    run_secret_command,
)


class FakeKeyring(types.ModuleType):
    """Stands in for the keyring package (never touch the developer's real keyring)."""

    def __init__(self, value: str | None = None, error: Exception | None = None) -> None:
        super().__init__("keyring")
        self.value, self.error = value, error
        self.calls: list[tuple[str, str]] = []

    def get_password(self, service: str, name: str) -> str | None:
        self.calls.append((service, name))
        if self.error is not None:
            raise self.error
        return self.value


class FakeTty:
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> FakeKeyring:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    ring = FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", ring)

    def no_prompt(prompt: str = "") -> str:
        raise AssertionError("getpass must not be called")

    monkeypatch.setattr("getpass.getpass", no_prompt)
    return ring


def py_cmd(code: str, *args: str) -> str:
    return shlex.join([sys.executable, "-c", code, *args])


def test_env_var_wins_and_later_sources_are_not_consulted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: FakeKeyring
) -> None:
    marker = tmp_path / "ran"
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    monkeypatch.setenv("OTHER_PW", "from-profile-env")
    isolated.value = "from-keyring"
    profile = {
        "password_env": "OTHER_PW",
        "password_cmd": py_cmd("import sys; open(sys.argv[1], 'w'); print('cmd')", str(marker)),
    }
    assert imap_password("dana", "imap.example.com", profile) == "from-env"
    assert not marker.exists()
    assert isolated.calls == []


def test_order_profile_env_then_cmd_then_keyring_then_prompt(
    monkeypatch: pytest.MonkeyPatch, isolated: FakeKeyring
) -> None:
    monkeypatch.setenv("OTHER_PW", "from-profile-env")
    cmd = py_cmd("print('from-cmd')")
    assert imap_password("u", "h", {"password_env": "OTHER_PW", "password_cmd": cmd}) == (
        "from-profile-env"
    )
    assert imap_password("u", "h", {"password_cmd": cmd}) == "from-cmd"
    isolated.value = "from-keyring"
    assert imap_password("u", "h", {}) == "from-keyring"
    assert isolated.calls == [("inbox-finder", "u@h")]
    isolated.value = None
    monkeypatch.setattr(sys, "stdin", FakeTty())
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return "typed"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert imap_password("u", "h", {}) == "typed"
    assert prompts == ["Password for u@h: "]


def test_empty_env_var_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "")
    assert imap_password("u", "h", {"password_cmd": py_cmd("print('x')")}) == "x"


def test_password_env_naming_an_unset_variable_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOT_THERE_PW", raising=False)
    with pytest.raises(AuthError, match=r"password_env names \$NOT_THERE_PW"):
        imap_password("u", "h", {"password_env": "NOT_THERE_PW"})
    with pytest.raises(ConfigError):
        imap_password("u", "h", {"password_env": 42})


def test_password_cmd_takes_the_first_line_as_is() -> None:
    assert run_secret_command(py_cmd("import sys; sys.stdout.write('pw  \\n\\n')")) == "pw  "
    assert run_secret_command(py_cmd("import sys; sys.stdout.write('pw\\r\\n')")) == "pw"
    assert run_secret_command(py_cmd("import sys; sys.stdout.write('p w')")) == "p w"


def test_password_cmd_runs_without_a_shell() -> None:
    tricky = "$HOME;`echo injected`|x>y"
    assert run_secret_command(py_cmd("import sys; print(sys.argv[1])", tricky)) == tricky


def test_password_cmd_gets_closed_stdin() -> None:
    started = time.monotonic()
    cmd = py_cmd("import sys; print('eof' if sys.stdin.read() == '' else 'data')")
    assert run_secret_command(cmd, timeout=10) == "eof"
    assert time.monotonic() - started < 5


def test_failing_command_names_status_but_never_output() -> None:
    cmd = py_cmd("import sys; print('hunter2'); sys.stderr.write('hunter2-err'); sys.exit(3)")
    with pytest.raises(AuthError) as info:
        imap_password("u", "h", {"password_cmd": cmd})
    message = str(info.value)
    assert "status 3" in message
    assert Path(sys.executable).name in message
    assert "hunter2" not in message
    assert "hunter2" not in repr(info.value.__cause__) + repr(info.value.__context__)


@pytest.mark.parametrize(
    ("profile", "expect"),
    [
        ({"password_cmd": "/nonexistent/pw-helper"}, "program not found: pw-helper"),
        ({"password_cmd": py_cmd("pass")}, "printed nothing"),
        (
            {"password_cmd": py_cmd("import time; time.sleep(5)"), "password_cmd_timeout": 0.3},
            "timed out after 0.3s",
        ),
    ],
)
def test_command_failures_are_auth_errors(profile: dict[str, Any], expect: str) -> None:
    with pytest.raises(AuthError, match=expect):
        imap_password("u", "h", profile)


@pytest.mark.parametrize(
    "profile",
    [
        {"password_cmd": ""},
        {"password_cmd": "unbalanced 'quote"},
        {"password_cmd": "x", "password_cmd_timeout": -1},
    ],
)
def test_bad_command_config(profile: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        imap_password("u", "h", profile)


@pytest.mark.parametrize("error", [RuntimeError("no backend"), OSError("dbus down")])
def test_keyring_errors_count_as_not_available(isolated: FakeKeyring, error: Exception) -> None:
    isolated.error = error
    with pytest.raises(AuthError, match="no password for u@h"):
        imap_password("u", "h", {})
    assert isolated.calls == [("inbox-finder", "u@h")]


def test_keyring_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # makes `import keyring` fail
    with pytest.raises(AuthError, match="no password"):
        imap_password("u", "h", {})


def test_no_prompt_without_a_terminal_and_hint_lists_sources() -> None:
    # stdin under pytest is not a tty; the autouse fixture fails the test if getpass runs.
    with pytest.raises(AuthError) as info:
        imap_password("dana", "imap.example.com", {})
    message = str(info.value)
    assert "\n" not in message
    for source in (PASSWORD_ENV, "password_env", "password_cmd", "keyring", "terminal"):
        assert source in message


def test_secret_never_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert imap_password("u", "h", {"password_cmd": py_cmd("print('S3cr3t-pw')")}) == "S3cr3t-pw"
    monkeypatch.setenv(PASSWORD_ENV, "S3cr3t-env")
    assert imap_password("u", "h", {}) == "S3cr3t-env"
    assert caplog.records  # the lookups do log which source answered
    assert "S3cr3t" not in caplog.text


def test_resolve_secret_is_generic() -> None:
    seen: list[str] = []

    def src(name: str, value: str | None) -> SecretSource:
        def lookup() -> str | None:
            seen.append(name)
            return value

        return SecretSource(name, lookup)

    got = resolve_secret("token", [src("a", None), src("b", "tok"), src("c", "later")], "hint")
    assert (got, seen) == ("tok", ["a", "b"])
    with pytest.raises(AuthError, match=r"^no token: use the force$"):
        resolve_secret("token", [src("x", None)], "use the force")


def test_oauth_token_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "ya29.token")
    assert oauth_token("u", "h", {"oauth_token_env": "MY_TOKEN"}) == "ya29.token"
    assert oauth_token("u", "h", {"oauth_token_cmd": py_cmd("print('cmd-token')")}) == "cmd-token"
    with pytest.raises(AuthError, match="oauth_token_env"):
        oauth_token("u", "h", {})
