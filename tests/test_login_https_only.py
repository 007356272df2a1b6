"""The Salesforce login never goes over plain http, not even to loopback.

A plain-HTTP SOAP emulator listens on 127.0.0.1: had the password+token been sent, it would
have counted a login attempt. The suite's own emulator runs HTTPS with a test CA, so nothing
needs an http exception.
"""

from __future__ import annotations

import io
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from soap_emulator import SoapEmulator

from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError
from inbox_finder.salesforce.login import allowed_url, check_login, login_endpoint

DANA = "dana@example.com"
PASSWORD = "pw-not-for-the-wire"
TOKEN = "Bmq3Q2rmLKRsvNELAtb8txr3"


@pytest.fixture
def plain() -> Iterator[SoapEmulator]:
    with SoapEmulator(None) as emulator:  # no TLS: plain http://127.0.0.1:PORT
        emulator.add_user(DANA, PASSWORD, TOKEN)
        assert emulator.base_url.startswith("http://127.0.0.1:")
        yield emulator


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("INBOX_FINDER_SF_PASSWORD", PASSWORD)
    monkeypatch.setitem(sys.modules, "keyring", types.ModuleType("keyring"))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080/services/Soap/u/64.0",
        "http://[::1]:8443",
        "HTTP://login.salesforce.com",
        "ftp://login.salesforce.com",
        "//login.salesforce.com",
    ],
)
def test_login_endpoint_refuses_anything_but_https(url: str) -> None:
    assert not allowed_url(url)
    with pytest.raises(ConfigError, match="https://"):
        login_endpoint(login_url=url)


def test_library_check_login_refuses_plain_http_before_connecting(plain: SoapEmulator) -> None:
    with pytest.raises(ConfigError, match="not an https URL") as info:
        check_login(DANA, PASSWORD, TOKEN, plain.endpoint())
    assert PASSWORD not in str(info.value) and TOKEN not in str(info.value)
    assert plain.attempts() == 0


@pytest.mark.parametrize("command", [["verify", "-u", DANA], ["verify", "-u", DANA, "--json"]])
def test_cli_refuses_plain_http_login_url_with_exit_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    plain: SoapEmulator,
    command: list[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    code = main([*command, "--login-url", plain.base_url])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "https://" in err and "Traceback" not in err
    assert PASSWORD not in err and TOKEN not in err
    assert plain.attempts() == 0  # nothing reached the wire
