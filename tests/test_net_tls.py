"""One TLS setup (inbox_finder/net/tls.py) for every consumer, and one CA-file check.

A ``--ca-file`` (or profile ``ca_file``) that is missing, unreadable or holds no certificate is
exit 2 naming the file, for IMAP, Gmail, Outlook, the Outlook login and the Salesforce login
check, before any connection. A good one is trusted on top of the system store by every client
library: imapclient (Dovecot), httplib2 (Gmail over TLS), requests/MSAL (Graph, Entra) and urllib
(the SOAP emulator).
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dovecot import DovecotServer
from emulators import gmail_emulator
from emulators.ms_emulators import LoopbackCA, make_test_ca
from emulators.soap_emulator import SoapEmulator
from inbox_finder.providers.outlook.auth import run_device_code_login

from inbox_finder import find_token
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError, MailboxError
from inbox_finder.net import tls
from inbox_finder.net.deadline import DeadlineSSLSocket
from inbox_finder.salesforce.login import check_login

APP_ID = "11111111-2222-3333-4444-555555555555"
OUTLOOK = {
    "client_id": APP_ID,
    "tenant": "contoso",
    "authority": "https://127.0.0.1:9/contoso",
    "client_secret_env": "NO_SUCH_VARIABLE",
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is no certificate\n")
    return {"missing": tmp_path / "nope.pem", "garbage": garbage, "directory": tmp_path}


MESSAGES = {
    "missing": "CA file not found",
    "garbage": "holds no usable PEM certificate",
    "directory": "CA file not found",
}
BAD = pytest.mark.parametrize("bad", list(MESSAGES))


def gmail_profile(tmp_path: Path) -> dict[str, Any]:
    return {"credentials": str(tmp_path / "creds.json"), "api_endpoint": "http://127.0.0.1:9"}


SOURCES: dict[str, tuple[str, Callable[[Path], dict[str, Any]]]] = {
    "imap": ("imaps://dana@127.0.0.1:9", lambda _: {}),
    "gmail": ("gmail://me", gmail_profile),
    "outlook": ("outlook://dana@example.com", lambda _: dict(OUTLOOK)),
}


@BAD
@pytest.mark.parametrize("kind", list(SOURCES))
@pytest.mark.parametrize("where", ["option", "profile"])
def test_a_bad_ca_file_is_a_config_error_for_every_provider(
    kind: str, where: str, bad: str, bad_files: dict[str, Path], tmp_path: Path
) -> None:
    url, profile = SOURCES[kind]
    path = str(bad_files[bad])
    keys = profile(tmp_path)
    if where == "profile":
        options = SourceOptions(timeout=1, profile=keys | {"ca_file": path})
    else:
        options = SourceOptions(ca_file=path, timeout=1, profile=keys)
    with pytest.raises(ConfigError) as info:
        open_provider(url, options)  # at once: no connection is attempted (port 9 is closed)
    assert MESSAGES[bad] in str(info.value) and path in str(info.value)
    assert info.value.exit_code == 2


def test_the_command_line_wins_over_the_profile(
    bad_files: dict[str, Path], dovecot: DovecotServer
) -> None:
    good = dovecot.ca_file
    assert tls.resolve_ca_file(good, {"ca_file": str(bad_files["missing"])}) == good
    assert tls.resolve_ca_file(None, {"ca_file": good}) == good
    assert tls.resolve_ca_file(None, {}) is None
    with pytest.raises(ConfigError, match="must be the path"):
        tls.resolve_ca_file(None, {"ca_file": 42})


def test_a_home_relative_ca_file_is_expanded(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ca.pem").write_bytes(Path(dovecot.ca_file).read_bytes())
    assert tls.resolve_ca_file("~/ca.pem") == str(tmp_path / "ca.pem")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_ca_file_is_a_config_error(dovecot: DovecotServer, tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_bytes(Path(dovecot.ca_file).read_bytes())
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read CA file"):
        tls.resolve_ca_file(str(path))


@BAD
def test_salesforce_login_checks_the_ca_file_before_any_login(
    bad: str, bad_files: dict[str, Path], ca: LoopbackCA
) -> None:
    with SoapEmulator(ca) as emu:
        emu.add_user("dana@example.com", "pw", "TokenTokenTokenTokenTok1")
        with pytest.raises(ConfigError, match=MESSAGES[bad]):
            check_login(
                "dana@example.com", "pw", "tok", emu.endpoint(), ca_file=str(bad_files[bad])
            )
        assert emu.attempts() == 0  # a failed login would count toward the lockout


@BAD
def test_outlook_login_checks_the_ca_file(bad: str, bad_files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match=MESSAGES[bad]):
        run_device_code_login(APP_ID, ca_file=str(bad_files[bad]))


def test_cli_bad_ca_file_is_exit_2_in_one_line(
    bad_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(bad_files["missing"])
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox.work]\nurl = "outlook://dana@example.com"\nclient_id = "x"\n'
        f'ca_file = "{missing}"\n'
    )
    code = main(["--config", str(config), "find", "work"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and missing in err


def test_contexts_verify_and_enforce_deadlines(dovecot: DovecotServer) -> None:
    context = tls.client_context(dovecot.ca_file)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.sslsocket_class is DeadlineSSLSocket
    # The test CA, plus the system store: registered as its hashed directory (read on demand)
    # where that holds the whole store, else loaded.
    loaded = context.cert_store_stats()["x509_ca"]
    lazy = tls.system_store_directory(ssl.get_default_verify_paths()) is not None
    assert loaded == 1 if lazy else loaded > 1


# ---------------------------------------------------------------- every consumer trusts it


class TlsGmailEmulator(gmail_emulator.GmailEmulator):
    """The Gmail emulator behind HTTPS with the test CA (the real API is https only)."""

    def __init__(self, ca: LoopbackCA) -> None:
        super().__init__()
        self.ca = ca

    def start(self) -> TlsGmailEmulator:
        emulator = self

        class Handler(gmail_emulator._Handler):
            emu = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        context = self.ca.server_context()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"


@pytest.fixture
def tls_gmail(ca: LoopbackCA, tmp_path: Path) -> Iterator[tuple[TlsGmailEmulator, Path]]:
    with TlsGmailEmulator(ca) as emu:
        creds = tmp_path / "gmail.json"
        expiry = datetime.now(UTC) - timedelta(minutes=5)  # the token endpoint is needed too
        info = emu.authorized_user_info(token=emu.issue_access_token(), expiry=expiry)
        creds.write_text(json.dumps(info))
        creds.chmod(0o600)
        yield emu, creds


def test_gmail_over_https_trusts_the_ca_file(
    tls_gmail: tuple[TlsGmailEmulator, Path], ca: LoopbackCA
) -> None:
    emu, creds = tls_gmail
    profile = {"credentials": str(creds), "api_endpoint": emu.url, "token_uri": emu.token_uri}
    options = SourceOptions(ca_file=str(ca.ca_file), timeout=5, profile=profile)
    with open_provider("gmail://me", options) as provider:
        assert list(provider.search(Query())) == []
    assert [r.path for r in emu.round_trips()][:2] == ["/token", "/gmail/v1/users/me/messages"]


def test_gmail_over_https_without_the_ca_file_is_a_tls_error(
    tls_gmail: tuple[TlsGmailEmulator, Path],
) -> None:
    emu, creds = tls_gmail
    profile = {"credentials": str(creds), "api_endpoint": emu.url, "token_uri": emu.token_uri}
    with (
        open_provider("gmail://me", SourceOptions(timeout=5, profile=profile)) as provider,
        pytest.raises(MailboxError) as info,
    ):
        find_token(provider)
    text = str(info.value)
    assert "TLS failure talking to the Google token endpoint" in text
    assert "did not verify" in text and "--ca-file" in text
    assert info.value.exit_code == 4
