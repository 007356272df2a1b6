"""A token mail with Salesforce's ``Sandbox:`` subject is checked at test.salesforce.com.

The login hosts resolve to the SOAP emulator through an injected resolver (no DNS); the
emulator records the Host of every request, so the test sees which server was asked.
"""

from __future__ import annotations

import io
import socket
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from emulators.ms_emulators import LoopbackCA
from emulators.soap_emulator import SoapEmulator

from inbox_finder.cli.main import main
from inbox_finder.testing.mail import new_token, token_mail

PASSWORD = "s3cret-pw"
USER = "dana@example.com.uat"
HOSTS = ("login.salesforce.com", "test.salesforce.com")


@pytest.fixture
def emu(ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoapEmulator]:
    monkeypatch.setenv("INBOX_FINDER_SF_PASSWORD", PASSWORD)
    monkeypatch.setitem(sys.modules, "keyring", types.ModuleType("keyring"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with SoapEmulator(ca) as emulator:
        port = int(emulator.base_url.rsplit(":", 1)[1])
        real = socket.create_connection

        def resolve(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
            host, _ = address
            if host in HOSTS:
                return real(("127.0.0.1", port), *args, **kwargs)
            return real(address, *args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", resolve)
        yield emulator


def mailbox(tmp_path: Path, subject: str, token: str) -> str:
    folder = tmp_path / "eml"
    folder.mkdir()
    when = datetime(2026, 11, 2, 9, tzinfo=UTC)
    (folder / "t.eml").write_bytes(token_mail(token, USER, when=when, subject=subject))
    return f"eml:{folder}"


@pytest.mark.parametrize(
    ("subject", "host"),
    [
        ("Sandbox: Your new Salesforce security token", "test.salesforce.com"),
        ("Your new Salesforce security token", "login.salesforce.com"),
    ],
)
def test_the_mail_chooses_the_login_server(
    emu: SoapEmulator,
    ca: LoopbackCA,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    subject: str,
    host: str,
) -> None:
    token = new_token()
    emu.add_user(USER, PASSWORD, token)
    source = mailbox(tmp_path, subject, token)
    code = main(["verify", source, "-u", USER, "--ca-file", str(ca.ca_file)])
    _, err = capsys.readouterr()
    assert code == 0
    assert emu.hosts[0] == host and emu.login_attempts == [USER]
    assert ("logging in at https://test.salesforce.com" in err) is (host == HOSTS[1])


def test_an_explicit_login_url_wins_over_the_sandbox_subject(
    emu: SoapEmulator, ca: LoopbackCA, tmp_path: Path
) -> None:
    token = new_token()
    emu.add_user(USER, PASSWORD, token)
    source = mailbox(tmp_path, "Sandbox: Your new Salesforce security token", token)
    args = ["verify", source, "-u", USER, "--ca-file", str(ca.ca_file)]
    assert main([*args, "--login-url", "https://login.salesforce.com"]) == 0
    assert emu.hosts[0] == "login.salesforce.com"
