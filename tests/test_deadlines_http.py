"""Total deadlines for HTTP: a server trickling its answer cannot hold a lookup.

The Gmail API, Graph, Google's and Entra's token endpoints and the Salesforce login check are
pointed at a server that answers every request one byte at a time, each byte well inside the
read timeout (headers or body). Each request ends at the timeout, is retried as the policy
says, and the lookup ends with exit 4 within (retries + 1) x timeout; the login check, which
is never retried, within one timeout.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulators.gmail_emulator import GmailEmulator
from emulators.ms_emulators import IdentityEmulator, LoopbackCA, make_test_ca
from fault_proxy import Fault, FaultProxy
from loopback import Elapsed, LoopbackServer

from inbox_finder import find_token
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.errors import ExitCode, MailboxError, SalesforceUnreachableError
from inbox_finder.net import tls
from inbox_finder.salesforce.login import check_login

HTTP_TIMEOUT = 0.5
SLACK = 2.5  # seconds on top of the deadlines (connect, TLS, a loaded CI box)
APP_ID = "11111111-2222-3333-4444-555555555555"
UPN = "dana@example.com"


class TrickleServer(LoopbackServer):
    """An HTTP(S) server on 127.0.0.1 that answers every request as slowly as allowed.

    ``mode`` "headers": the status line and headers, one byte every ``interval`` seconds;
    "body": complete headers announcing a 64 KiB body, then the body one byte at a time.
    """

    def __init__(self, mode: str, interval: float, tls_ca: LoopbackCA | None = None) -> None:
        self.mode, self.interval = mode, interval
        self.requests: list[str] = []
        self._context = tls_ca.server_context() if tls_ca else None
        super().__init__()
        self.url = f"{'https' if tls_ca else 'http'}://127.0.0.1:{self.port}"

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        if self._context is not None:
            conn = self._context.wrap_socket(conn, server_side=True)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                return
            head += chunk
        self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
        headers = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        headers += b"Content-Length: 65536\r\n\r\n"
        trickled = headers if self.mode == "headers" else b"{" + b" " * 65535
        if self.mode == "body":
            conn.sendall(headers)
        for i in range(len(trickled)):
            if self.stop.wait(self.interval):
                return
            conn.sendall(trickled[i : i + 1])


MODES = pytest.mark.parametrize("mode", ["headers", "body"])
QUICK = {"retries": 1, "retry_backoff": 0.01}  # 2 attempts
BOUND = 2 * HTTP_TIMEOUT + SLACK  # (retries + 1) x timeout, plus slack


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def gmail_creds(tmp_path: Path) -> Callable[..., Path]:
    def write(expired: bool = False) -> Path:
        with GmailEmulator() as emu:  # only for well-formed credentials
            expiry = datetime.now(UTC) + timedelta(hours=-1 if expired else 1)
            info = emu.authorized_user_info(token=emu.issue_access_token(), expiry=expiry)
        path = tmp_path / "gmail.json"
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        return path

    return write


def gmail(profile: dict[str, Any]) -> Any:
    return open_provider("gmail://me", SourceOptions(timeout=HTTP_TIMEOUT, profile=profile))


@MODES
def test_gmail_api_trickle_ends_with_exit_4(mode: str, gmail_creds: Callable[..., Path]) -> None:
    with TrickleServer(mode, 0.3) as server:
        profile = {"credentials": str(gmail_creds()), "api_endpoint": server.url, **QUICK}
        with (
            Elapsed() as clock,
            gmail(profile) as provider,
            pytest.raises(MailboxError, match="timed out") as info,
        ):
            find_token(provider)
    assert info.value.exit_code == ExitCode.MAILBOX
    assert "gave up after 2 attempts" in str(info.value)
    assert len(server.requests) == 2 and clock.seconds < BOUND


def test_google_token_endpoint_trickle_ends_with_exit_4(gmail_creds: Callable[..., Path]) -> None:
    with TrickleServer("body", 0.3) as server, GmailEmulator() as emu:
        profile = {
            "credentials": str(gmail_creds(expired=True)),
            "api_endpoint": emu.url,
            "token_uri": server.url + "/token",
            **QUICK,
        }
        with (
            Elapsed() as clock,
            gmail(profile) as provider,
            pytest.raises(MailboxError, match="token endpoint") as info,
        ):
            find_token(provider)
        assert emu.round_trips() == []  # no API call without a token
    assert "token endpoint" in str(info.value) and "gave up after 2 attempts" in str(info.value)
    assert len(server.requests) == 2 and clock.seconds < BOUND


@pytest.fixture
def idp(ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityEmulator]:
    monkeypatch.setenv("TEST_APP_SECRET", "s3cr3t")
    with IdentityEmulator(ca) as emulator:
        emulator.register_app(APP_ID, secret="s3cr3t")
        yield emulator


def outlook(profile: dict[str, Any], ca: LoopbackCA) -> Any:
    base = {"client_id": APP_ID, "client_secret_env": "TEST_APP_SECRET", **QUICK}
    options = SourceOptions(ca_file=str(ca.ca_file), timeout=HTTP_TIMEOUT, profile=base | profile)
    return open_provider(f"outlook://{UPN}", options)


@MODES
def test_graph_trickle_ends_with_exit_4(mode: str, idp: IdentityEmulator, ca: LoopbackCA) -> None:
    with TrickleServer(mode, 0.3) as server:
        profile = {
            "tenant": idp.tenant_id,
            "authority": idp.authority(),
            "graph_endpoint": server.url + "/v1.0",
        }
        with (
            Elapsed() as clock,
            outlook(profile, ca) as provider,
            pytest.raises(MailboxError, match="timed out") as info,
        ):
            find_token(provider)
    assert info.value.exit_code == ExitCode.MAILBOX
    assert "gave up after 2 attempts" in str(info.value)
    assert len(server.requests) == 2 and clock.seconds < BOUND


def test_entra_identity_endpoint_trickle_ends_with_exit_4(
    ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_APP_SECRET", "s3cr3t")
    with TrickleServer("body", 0.3, tls_ca=ca) as server:
        profile = {
            "tenant": "contoso",
            "authority": server.url + "/contoso",
            "graph_endpoint": "https://127.0.0.1:9/v1.0",  # never reached without a token
        }
        with (
            Elapsed() as clock,
            outlook(profile, ca) as provider,
            pytest.raises(MailboxError, match="identity endpoint") as info,
        ):
            find_token(provider)
    assert "timed out" in str(info.value) and "gave up after 2 attempts" in str(info.value)
    assert len(server.requests) == 2 and clock.seconds < BOUND


def test_salesforce_login_trickle_is_unreachable_within_the_timeout(ca: LoopbackCA) -> None:
    """The login check is made once, never retried (lockout), and ends at the deadline."""
    with TrickleServer("body", 0.3, tls_ca=ca) as server:
        endpoint = server.url + "/services/Soap/u/64.0"
        assert endpoint.startswith("https://")  # the login refuses plain http
        with Elapsed() as clock, pytest.raises(SalesforceUnreachableError, match=r"within 0\.5s"):
            check_login(
                "dana@example.com",
                "pw",
                "tok",
                endpoint,
                ca_file=str(ca.ca_file),
                timeout=HTTP_TIMEOUT,
            )
    assert len(server.requests) == 1 and clock.seconds < HTTP_TIMEOUT + SLACK


def test_cli_gmail_trickle_is_exit_4_in_one_line(
    gmail_creds: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TrickleServer("body", 0.3) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[mailbox.work]\nurl = "gmail://me"\ncredentials = "{gmail_creds()}"\n'
            f'api_endpoint = "{server.url}"\nretries = 1\nretry_backoff = 0.01\n'
        )
        with Elapsed() as clock:
            code = main(["--config", str(config), "find", "work", "--timeout", "0.5"])
    out, err = capsys.readouterr()
    assert (code, out) == (ExitCode.MAILBOX, "")
    assert len(err.strip().splitlines()) == 1 and "timed out" in err, err
    assert clock.seconds < BOUND


def test_a_stalled_https_handshake_is_bounded_too(ca: LoopbackCA) -> None:
    """An https endpoint that accepts TCP and then sends its TLS handshake one byte at a time."""
    with TrickleServer("body", 0.3, tls_ca=ca) as server:
        trickle = Fault("trickle", after_server_bytes=0, times=None, interval=0.05)
        with FaultProxy(("127.0.0.1", server.port), faults=[trickle]) as proxy:
            context = tls.client_context(str(ca.ca_file))
            raw = socket.create_connection((proxy.host, proxy.port), timeout=HTTP_TIMEOUT)
            with Elapsed() as clock, pytest.raises(TimeoutError):
                context.wrap_socket(raw, server_hostname="127.0.0.1")
            raw.close()
    assert clock.seconds < HTTP_TIMEOUT + SLACK
    assert ssl.TLSVersion.TLSv1_2 <= context.minimum_version
