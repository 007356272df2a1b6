"""Total deadlines: a peer that trickles bytes just inside the read timeout cannot hold a lookup.

Without them each read of a trickled answer succeeds in time, so a FETCH literal, an HTTP body
or a token endpoint's answer could take hours. With them every exchange (the answer after the
last request, a TLS handshake, an IMAP greeting) must finish within the timeout, so a lookup
ends with exit 4 within about (retries + 1) x timeout. Here: the sockets themselves, and IMAP
against the real Dovecot through tests/fault_proxy.py (``trickle``); the HTTP providers, token
endpoints and the Salesforce login are in test_deadlines_http.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dovecot import DovecotServer
from fault_proxy import Fault, FaultProxy, TlsTermination
from loopback import Elapsed
from mailgen import new_token, token_mail

from inbox_finder import find_token
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.errors import ExitCode, MailboxError
from inbox_finder.net import tls
from inbox_finder.net.deadline import adopt
from inbox_finder.secret_sources import PASSWORD_ENV

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TIMEOUT = 1.0  # IMAP tests (a TLS login over the proxy needs some room on a loaded machine)
SLACK = 2.5  # seconds on top of the deadlines (connect, TLS, a loaded CI box)
BODY = r"^UID FETCH .*BODY\.PEEK\[\]"


# ---------------------------------------------------------------- the sockets themselves


def _trickle_into(sock: socket.socket, n: int, interval: float) -> threading.Thread:
    def run() -> None:
        try:
            for _ in range(n):
                sock.send(b"x")
                time.sleep(interval)
        except OSError:
            pass  # the reader gave up and closed

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_trickled_answer_ends_at_the_deadline() -> None:
    ours, peer = socket.socketpair()
    ours.settimeout(0.5)
    reader = adopt(ours)
    thread = _trickle_into(peer, 100, 0.1)  # every read is 5x faster than the timeout
    with Elapsed() as clock, reader, peer, pytest.raises(TimeoutError, match=r"within 0\.5s"):
        reader.makefile("rb").read(100)
    thread.join(5)
    assert 0.45 <= clock.seconds < 1.0


def test_a_plain_socket_timeout_alone_would_keep_reading() -> None:
    """The control: the same trickle passes a bare per-read timeout (what the deadline fixes)."""
    ours, peer = socket.socketpair()
    ours.settimeout(0.5)
    thread = _trickle_into(peer, 10, 0.1)
    with Elapsed() as clock, ours, peer:
        assert ours.makefile("rb").read(10) == b"x" * 10
    thread.join(5)
    assert clock.seconds > 0.5  # longer than the timeout in total, and never timed out


def test_each_request_starts_a_new_exchange() -> None:
    ours, peer = socket.socketpair()
    ours.settimeout(0.5)
    reader = adopt(ours)
    with reader, peer:
        for _ in range(4):  # 4 x 0.3 s in total, each answer within 0.5 s of its request
            reader.sendall(b"?")
            assert peer.recv(1) == b"?"
            time.sleep(0.3)
            peer.send(b"!")
            assert reader.recv(1) == b"!"
        assert reader.gettimeout() == 0.5  # the owner's timeout, not the one left


def test_non_blocking_and_unbounded_sockets_are_left_alone() -> None:
    ours, peer = socket.socketpair()
    reader = adopt(ours)
    with reader, peer:
        reader.setblocking(False)  # IMAP IDLE polls like this
        with pytest.raises(BlockingIOError):
            reader.recv(1)
        reader.settimeout(None)
        peer.send(b"!")
        assert reader.recv(1) == b"!"


def test_a_trickled_tls_handshake_ends_at_the_deadline(dovecot: DovecotServer) -> None:
    # Dovecot's real TLS answer (ServerHello, certificate, ...) forwarded one byte per 0.2 s.
    trickle = Fault("trickle", after_server_bytes=0, times=None, interval=0.2)
    with FaultProxy((dovecot.host, dovecot.imaps_port), faults=[trickle]) as proxy:
        context = tls.client_context(dovecot.ca_file)
        raw = socket.create_connection((proxy.host, proxy.port), timeout=0.8)
        with Elapsed() as clock, pytest.raises(TimeoutError, match="handshake"):
            context.wrap_socket(raw, server_hostname=proxy.host)
        raw.close()
    assert 0.7 <= clock.seconds < 0.8 + SLACK


# ---------------------------------------------------------------- IMAP, real Dovecot


@pytest.fixture
def box(
    dovecot: DovecotServer, imap_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    user, password = imap_user
    monkeypatch.setenv(PASSWORD_ENV, password)
    token = new_token()
    raw = token_mail(token, when=T0).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    dovecot.append_many(user, [(raw, T0)])
    return user, token


@pytest.fixture
def proxies() -> Iterator[list[FaultProxy]]:
    made: list[FaultProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def imap_via(proxy: FaultProxy, dovecot: DovecotServer, user: str, scheme: str = "imaps") -> Any:
    options = SourceOptions(
        ca_file=dovecot.ca_file,
        timeout=TIMEOUT,
        profile={"retries": 1, "retry_backoff": 0.01},
    )
    return open_provider(proxy.url(user, scheme=scheme), options)


def test_imap_fetch_trickled_forever_ends_with_exit_4(
    dovecot: DovecotServer, box: tuple[str, str], proxies: list[FaultProxy]
) -> None:
    user, token = box
    # Half the message literal arrives, then one byte every 0.7 s: each read is in time.
    trickle = Fault("trickle", on_command=BODY, mid_literal=True, times=None, interval=0.7)
    proxy = FaultProxy(
        (dovecot.host, dovecot.imaps_port), tls=TlsTermination.from_dir(dovecot.base)
    )
    proxies.append(proxy)
    proxy.faults.append(trickle)
    with (
        Elapsed() as clock,
        imap_via(proxy, dovecot, user) as provider,
        pytest.raises(MailboxError) as info,
    ):
        find_token(provider)
    text = str(info.value)
    assert info.value.exit_code == ExitCode.MAILBOX
    assert "timed out while fetching a message (gave up after 2 attempts)" in text, text
    assert proxy.where in text and token not in text
    assert trickle.fired == 2
    assert 2 * TIMEOUT * 0.9 <= clock.seconds < 2 * TIMEOUT + SLACK  # (retries + 1) x timeout


def test_imap_fetch_trickled_once_is_retried(
    dovecot: DovecotServer, box: tuple[str, str], proxies: list[FaultProxy]
) -> None:
    user, token = box
    trickle = Fault("trickle", on_command=BODY, mid_literal=True, interval=0.7)
    proxy = FaultProxy(
        (dovecot.host, dovecot.imaps_port),
        tls=TlsTermination.from_dir(dovecot.base),
        faults=[trickle],
    )
    proxies.append(proxy)
    with Elapsed() as clock, imap_via(proxy, dovecot, user) as provider:
        assert find_token(provider).token == token
    assert trickle.fired == 1 and proxy.count(BODY) == 2
    assert clock.seconds < TIMEOUT + SLACK


def test_imap_greeting_trickled_before_starttls_ends_with_exit_4(
    dovecot: DovecotServer, box: tuple[str, str], proxies: list[FaultProxy]
) -> None:
    """imap:// reads the greeting and CAPABILITY in plain text: that socket has deadlines too."""
    user, _ = box
    trickle = Fault("trickle", after_server_bytes=0, times=None, interval=0.1)
    proxy = FaultProxy((dovecot.host, dovecot.imap_port), faults=[trickle])
    proxies.append(proxy)
    with (
        Elapsed() as clock,
        imap_via(proxy, dovecot, user, scheme="imap") as provider,
        pytest.raises(MailboxError, match="timed out while connecting") as info,
    ):
        find_token(provider)
    assert "gave up after 2 attempts" in str(info.value)
    assert len(proxy.connections) == 2
    assert clock.seconds < 2 * TIMEOUT + SLACK


def test_cli_imap_trickle_is_exit_4_in_one_line(
    dovecot: DovecotServer,
    box: tuple[str, str],
    proxies: list[FaultProxy],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user, token = box
    trickle = Fault("trickle", on_command=BODY, mid_literal=True, times=None, interval=0.7)
    proxy = FaultProxy(
        (dovecot.host, dovecot.imaps_port),
        tls=TlsTermination.from_dir(dovecot.base),
        faults=[trickle],
    )
    proxies.append(proxy)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox.slow]\nurl = "{proxy.url(user)}"\nca_file = "{dovecot.ca_file}"\n'
        "retries = 1\nretry_backoff = 0.01\n"
    )
    with Elapsed() as clock:
        code = main(["--config", str(config), "find", "slow", "--timeout", str(TIMEOUT)])
    out, err = capsys.readouterr()
    assert (code, out) == (ExitCode.MAILBOX, "")
    assert len(err.strip().splitlines()) == 1 and "timed out" in err and token not in err
    assert clock.seconds < 2 * TIMEOUT + SLACK
