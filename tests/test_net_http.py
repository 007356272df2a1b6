"""The one HTTP classifier (inbox_finder/net/http.py): the status table is complete, transport
failures from the real libraries are recognised, and Gmail and Graph both act on it.

The provider half drives the real google-api-python-client and requests against the emulators
with each status injected, and checks the error class and whether the provider retried (its
policy's sleeps), exactly as the classifier says.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httplib2
import pytest
import requests
from gmail_emulator import GmailEmulator
from inbox_finder.providers.gmail import provider as gmail_module
from inbox_finder.providers.outlook import provider as outlook_module
from loopback import FakeClock, LoopbackServer
from ms_emulators import IdentityEmulator, LoopbackCA, make_test_ca
from ms_graph_emulator import GraphEmulator

from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.errors import (
    AuthError,
    FolderNotFoundError,
    InboxFinderError,
    MailboxError,
)
from inbox_finder.net.http import (
    ERRORS,
    RATE_LIMIT_REASONS,
    RETRYABLE,
    Kind,
    Transport,
    classify_status,
    classify_transport,
    status_failure,
)

K = Kind
# (status, error reasons in the body, kind): every status class and every special case.
STATUS_TABLE: list[tuple[int, frozenset[str], Kind]] = [
    (100, frozenset(), K.UNEXPECTED),
    (101, frozenset(), K.UNEXPECTED),
    (200, frozenset(), K.OK),
    (204, frozenset(), K.OK),
    (299, frozenset(), K.OK),
    (301, frozenset(), K.UNEXPECTED),
    (302, frozenset(), K.UNEXPECTED),
    (304, frozenset(), K.UNEXPECTED),
    (307, frozenset(), K.UNEXPECTED),
    (400, frozenset(), K.REJECTED),
    (401, frozenset(), K.AUTH),
    (401, frozenset({"rateLimitExceeded"}), K.AUTH),  # a rate-limit reason only matters on 403
    (403, frozenset(), K.FORBIDDEN),
    (403, frozenset({"rateLimitExceeded"}), K.THROTTLED),
    (403, frozenset({"userRateLimitExceeded"}), K.THROTTLED),
    (403, frozenset({"dailyLimitExceeded"}), K.FORBIDDEN),  # a quota until tomorrow: no retry
    (403, frozenset({"insufficientPermissions"}), K.FORBIDDEN),
    (404, frozenset(), K.NOT_FOUND),
    (405, frozenset(), K.REJECTED),
    (408, frozenset(), K.THROTTLED),
    (409, frozenset(), K.REJECTED),
    (410, frozenset(), K.REJECTED),
    (413, frozenset(), K.REJECTED),
    (429, frozenset(), K.THROTTLED),
    (451, frozenset(), K.REJECTED),
    (499, frozenset(), K.REJECTED),
    (500, frozenset(), K.UNAVAILABLE),
    (501, frozenset(), K.REJECTED),
    (502, frozenset(), K.UNAVAILABLE),
    (503, frozenset(), K.UNAVAILABLE),
    (504, frozenset(), K.UNAVAILABLE),
    (505, frozenset(), K.REJECTED),
    (507, frozenset(), K.UNAVAILABLE),
    (599, frozenset(), K.UNAVAILABLE),
    (600, frozenset(), K.UNEXPECTED),
    (99, frozenset(), K.UNEXPECTED),
]


@pytest.mark.parametrize(("status", "reasons", "kind"), STATUS_TABLE)
def test_status_table(status: int, reasons: frozenset[str], kind: Kind) -> None:
    assert classify_status(status, reasons) is kind
    if kind is Kind.OK:
        return
    failure = status_failure(status, "m", reasons=reasons, retry_after="7")
    assert failure.error is ERRORS[kind] and failure.status == status
    assert failure.retryable is (kind in RETRYABLE)
    assert failure.retry_after == (7.0 if kind in RETRYABLE else None)
    assert failure.error is (AuthError if kind in (K.AUTH, K.FORBIDDEN) else MailboxError)


def test_the_table_is_complete() -> None:
    """Every status maps somewhere, every kind has an error, the table names every class."""
    for status in range(100, 600):
        kind = classify_status(status)
        assert kind is Kind.OK or kind in ERRORS
    assert set(ERRORS) == set(Kind) - {Kind.OK}
    assert {Kind.THROTTLED, Kind.UNAVAILABLE} == RETRYABLE
    assert {kind for _, _, kind in STATUS_TABLE} == set(Kind)
    assert {s // 100 for s, _, _ in STATUS_TABLE if 100 <= s < 600} == {1, 2, 3, 4, 5}
    reasons_tested = set().union(*(r for s, r, _ in STATUS_TABLE if s == 403))
    assert reasons_tested >= RATE_LIMIT_REASONS
    retried = {s for s in range(100, 600) if classify_status(s) in RETRYABLE}
    assert retried == {408, 429} | (set(range(500, 600)) - {501, 505})
    with pytest.raises(ValueError, match="success"):
        status_failure(200, "ok")


# ---------------------------------------------------------------- transport failures


class Misbehaving(LoopbackServer):
    """A loopback TCP server that answers every connection the way ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        conn.recv(65536)
        if self.mode == "cut":  # 10 of 100 promised bytes, then a close
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        elif self.mode == "stall":
            self.stop.wait(2)
        # "no-status": close without a status line


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Misbehaving]:
    srv = Misbehaving(request.param)
    yield srv
    srv.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def via_requests(url: str, scheme: str = "http") -> BaseException:
    return _raised(lambda: requests.get(f"{scheme}://{url}/", timeout=0.3).content)


def via_httplib2(url: str, scheme: str = "http") -> BaseException:
    return _raised(lambda: httplib2.Http(timeout=0.3).request(f"{scheme}://{url}/"))


CLIENTS = pytest.mark.parametrize("client", [via_requests, via_httplib2])


@CLIENTS
@pytest.mark.parametrize(
    ("server", "kind"),
    [("cut", Transport.CUT), ("no-status", Transport.CUT), ("stall", Transport.TIMEOUT)],
    indirect=["server"],
)
def test_real_transport_failures(
    client: Callable[..., BaseException], server: Misbehaving, kind: Transport
) -> None:
    assert classify_transport(client(f"127.0.0.1:{server.port}")) is kind


@CLIENTS
def test_refused_is_unreachable(client: Callable[..., BaseException]) -> None:
    assert classify_transport(client(f"127.0.0.1:{closed_port()}")) is Transport.UNREACHABLE


@CLIENTS
@pytest.mark.parametrize("server", ["cut"], indirect=True)
def test_tls_to_a_plain_server_is_a_tls_failure(
    client: Callable[..., BaseException], server: Misbehaving
) -> None:
    exc = client(f"127.0.0.1:{server.port}", scheme="https")
    assert classify_transport(exc) is Transport.TLS


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), Transport.TIMEOUT),
        (http.client.IncompleteRead(b"x", 10), Transport.CUT),
        (http.client.RemoteDisconnected("gone"), Transport.CUT),
        (ssl.SSLEOFError(8, "EOF"), Transport.CUT),
        (ssl.SSLCertVerificationError(1, "bad cert"), Transport.TLS),
        (ssl.SSLError(1, "WRONG_VERSION_NUMBER"), Transport.TLS),
        (ConnectionRefusedError(), Transport.UNREACHABLE),
        (socket.gaierror(socket.EAI_NONAME, "unknown"), Transport.UNREACHABLE),
        (ValueError("a parser bug"), None),
        (KeyError("x"), None),
    ],
)
def test_transport_exceptions(exc: BaseException, kind: Transport | None) -> None:
    assert classify_transport(exc) is kind
    try:
        raise MailboxError("translated") from exc  # found through the chain as well
    except MailboxError as wrapped:
        assert classify_transport(wrapped) is kind


# ---------------------------------------------------------------- every provider uses it


def _app_provider(
    idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA
) -> tuple[Any, FakeClock]:
    """An app-only Outlook provider on the emulators, and the fake clock for its retries."""
    profile = {
        "client_id": "11111111-2222-3333-4444-555555555555",
        "tenant": idp.tenant_id,
        "authority": idp.authority(),
        "graph_endpoint": graph.endpoint,
        "client_secret_env": "TEST_APP_SECRET",
    }
    options = SourceOptions(ca_file=str(ca.ca_file), timeout=5, profile=profile)
    provider = outlook_module.OutlookProvider.from_url("outlook://dana@example.com", options)
    return provider, FakeClock()


def quick(clock: FakeClock, default: Any) -> Any:
    return dataclasses.replace(default, max_attempts=3, sleep=clock.sleep, clock=lambda: clock.now)


# (status, Google error reason): what each provider must do is derived from the classifier.
PROVIDER_CASES = [
    (400, None),
    (401, None),
    (403, None),
    (403, "rateLimitExceeded"),
    (404, None),
    (408, None),
    (409, None),
    (429, None),
    (500, None),
    (501, None),
    (503, None),
    (505, None),
]


def expected_error(provider: str, status: int, reasons: frozenset[str]) -> type[InboxFinderError]:
    kind = classify_status(status, reasons)
    if kind is Kind.NOT_FOUND and provider == "graph":
        return FolderNotFoundError  # a list answered 404: the folder is not there
    return ERRORS[kind]


@pytest.fixture
def gmail_emu() -> Iterator[GmailEmulator]:
    with GmailEmulator() as emu:
        yield emu


@pytest.mark.parametrize(("status", "reason"), PROVIDER_CASES)
def test_gmail_follows_the_classifier(
    gmail_emu: GmailEmulator, tmp_path: Path, status: int, reason: str | None
) -> None:
    creds = tmp_path / "gmail.json"
    expiry = datetime.now(UTC) + timedelta(hours=1)
    info = gmail_emu.authorized_user_info(token=gmail_emu.issue_access_token(), expiry=expiry)
    creds.write_text(json.dumps(info))
    creds.chmod(0o600)
    clock = FakeClock()
    profile = {
        "credentials": str(creds),
        "api_endpoint": gmail_emu.url,
        "token_uri": gmail_emu.token_uri,
    }
    options = SourceOptions(timeout=5, profile=profile)
    retry = quick(clock, gmail_module.DEFAULT_RETRY)
    gmail_emu.fail_next(1000, status, reason=reason)
    reasons = frozenset({reason} if reason else set())
    with (
        gmail_module.GmailProvider.from_url("gmail://me", options, retry=retry) as provider,
        pytest.raises(InboxFinderError) as info_,
    ):
        list(provider.search(Query()))
    assert type(info_.value) is expected_error("gmail", status, reasons), info_.value
    retried = classify_status(status, reasons) in RETRYABLE
    assert len(clock.sleeps) == (2 if retried else 0)
    assert f"HTTP {status}" in str(info_.value)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def graph_rig(
    ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[IdentityEmulator, GraphEmulator]]:
    monkeypatch.setenv("TEST_APP_SECRET", "s3cr3t")
    with IdentityEmulator(ca) as idp, GraphEmulator(idp, ca) as graph:
        idp.register_app("11111111-2222-3333-4444-555555555555", secret="s3cr3t")
        graph.add_mailbox("dana@example.com")
        yield idp, graph


@pytest.mark.parametrize(("status", "reason"), [c for c in PROVIDER_CASES if not c[1]])
def test_graph_follows_the_classifier(
    graph_rig: tuple[IdentityEmulator, GraphEmulator],
    ca: LoopbackCA,
    status: int,
    reason: str | None,
) -> None:
    idp, graph = graph_rig
    provider, clock = _app_provider(idp, graph, ca)
    provider.retry = quick(clock, outlook_module.DEFAULT_RETRY)
    graph.inject(status, times=1000)
    with provider, pytest.raises(InboxFinderError) as info:
        list(provider.search(Query()))
    error = expected_error("graph", status, frozenset())
    assert type(info.value) is error, info.value
    retried = classify_status(status) in RETRYABLE
    assert len(clock.sleeps) == (2 if retried else 0)
    assert len(graph.requests) == (3 if retried else 1)


# ---------------------------------------------------------------- token endpoints too


def test_google_token_endpoint_follows_the_classifier(
    gmail_emu: GmailEmulator, tmp_path: Path
) -> None:
    """503 twice with Retry-After: our policy waits as asked (google-auth's own retry, with its
    own sleeps, never runs), then the refreshed token works. A revoked grant: exit 3 at once."""
    creds = tmp_path / "gmail.json"
    expired = datetime.now(UTC) - timedelta(minutes=5)
    info = gmail_emu.authorized_user_info(token=gmail_emu.issue_access_token(), expiry=expired)
    creds.write_text(json.dumps(info))
    creds.chmod(0o600)
    profile = {"credentials": str(creds), "api_endpoint": gmail_emu.url}
    profile["token_uri"] = gmail_emu.token_uri
    options = SourceOptions(timeout=5, profile=profile)
    clock = FakeClock()
    retry = quick(clock, gmail_module.DEFAULT_RETRY)
    gmail_emu.fail_next(2, 503, retry_after="3", prefix="/token")
    with gmail_module.GmailProvider.from_url("gmail://me", options, retry=retry) as provider:
        assert list(provider.search(Query())) == []
    assert clock.sleeps == [3.0, 3.0]
    assert [r.status for r in gmail_emu.round_trips("/token")] == [503, 503, 200]
    creds.write_text(json.dumps(info))
    gmail_emu.revoke_all()
    clock.sleeps.clear()
    with (
        gmail_module.GmailProvider.from_url("gmail://me", options, retry=retry) as provider,
        pytest.raises(AuthError, match="invalid_grant"),
    ):
        list(provider.search(Query()))
    assert clock.sleeps == []


def test_entra_token_endpoint_follows_the_classifier(
    graph_rig: tuple[IdentityEmulator, GraphEmulator],
    ca: LoopbackCA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Entra's token endpoint answering 503 is retried below MSAL under Graph's policy."""
    from ms_emulators import Reply

    idp, graph = graph_rig
    answered = idp.handle
    failing = [503, 429]

    def flaky(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Any:
        if path.endswith("/oauth2/v2.0/token") and failing:
            return Reply(failing.pop(0), {"error": "temporarily_unavailable"}, {"Retry-After": "2"})
        return answered(method, path, query, headers, body)

    monkeypatch.setattr(idp, "handle", flaky)
    provider, clock = _app_provider(idp, graph, ca)
    provider.retry = quick(clock, outlook_module.DEFAULT_RETRY)  # Graph's and the token's
    with provider:
        assert list(provider.search(Query())) == []
    assert clock.sleeps == [2.0, 2.0]
    assert [r.status for r in idp.requests if r.path.endswith("/token")] == [503, 429, 200]
