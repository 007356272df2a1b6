"""Network faults and concurrency: a real Dovecot behind tests/emulators/fault_proxy.py.

A transient fault that happens once is retried on a fresh connection and the lookup returns
the right token, repeating only the interrupted step; a persistent one ends in MailboxError
(exit 4) naming host:port within ``timeout * attempts`` plus slack; a rejected login and a TLS
or certificate failure are never retried; a literal cut short is an error, never a message.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulators.fault_proxy import Action, Fault, FaultProxy, TlsTermination
from imapclient.exceptions import LoginError
from inbox_finder.providers.imap.provider import ImapProvider, parse_imap_url
from inbox_finder.providers.imap.session import DEFAULT_RETRY, is_transient

from inbox_finder import find_token
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.errors import AuthError, ConfigError, MailboxError
from inbox_finder.net.retry import RetryPolicy
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing.dovecot import DovecotServer, free_port
from inbox_finder.testing.mail import new_token, other_mail, token_mail, verification_mail

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TIMEOUT = 1.0  # connect/read timeout in these tests
BACKOFF = 0.01
SLACK = 2.0  # seconds on top of the timeouts a lookup may use (TLS, LOGIN, a loaded CI box)
BODY = r"^UID FETCH .*BODY\.PEEK\[\]"
HEADERS = r"^UID FETCH .*BODY\.PEEK\[HEADER\]"
TOKEN_LABEL = b"Security token (case-sensitive): "


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class Box:
    user: str
    token: str

    def cut_in_token(self) -> bytes:
        """Bytes after which a cut leaves a 22-character token: still token-shaped, but wrong."""
        return TOKEN_LABEL + self.token[:22].encode()


def fill(dovecot: DovecotServer, user: str, folder: str = "INBOX") -> str:
    """An older token, look-alikes, the newest token; return the newest token."""
    token = new_token()
    dovecot.append_many(
        user,
        [
            (crlf(token_mail(new_token(), when=T0)), T0),
            (crlf(other_mail(1, when=T0)), T0 + timedelta(hours=1)),
            (crlf(verification_mail(when=T0)), T0 + timedelta(hours=2)),
            (crlf(token_mail(token, when=T0)), T0 + timedelta(hours=3)),
            (crlf(verification_mail(when=T0)), T0 + timedelta(hours=4)),
        ],
        folder=folder,
    )
    return token


@pytest.fixture
def box(dovecot: DovecotServer, imap_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Box:
    user, password = imap_user
    monkeypatch.setenv(PASSWORD_ENV, password)
    return Box(user, fill(dovecot, user))


ProxyFactory = Callable[..., FaultProxy]


@pytest.fixture
def make_proxy(dovecot: DovecotServer) -> Iterator[ProxyFactory]:
    """Proxies in front of Dovecot (IMAPS port unless given; TLS-terminating unless tls=False)."""
    proxies: list[FaultProxy] = []

    def make(*faults: Fault, tls: bool = True, port: int | None = None) -> FaultProxy:
        proxy = FaultProxy(
            (dovecot.host, port or dovecot.imaps_port),
            tls=TlsTermination.from_dir(dovecot.base) if tls else None,
            faults=list(faults),
        )
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()  # joins every proxy thread: nothing outlives the test


def via(
    proxy: FaultProxy,
    dovecot: DovecotServer,
    user: str,
    *,
    retries: int = 2,
    ca: bool = True,
    folder: str | None = None,
    scheme: str = "imaps",
) -> ImapProvider:
    options = SourceOptions(
        ca_file=dovecot.ca_file if ca else None,
        timeout=TIMEOUT,
        profile={"retries": retries, "retry_backoff": BACKOFF},
    )
    provider = open_provider(proxy.url(user, folder, scheme), options)
    assert isinstance(provider, ImapProvider)
    return provider


class Clock:
    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start


# ---------------------------------------------------------------- the proxy itself


def test_proxy_is_transparent_and_counts(
    dovecot: DovecotServer, box: Box, make_proxy: ProxyFactory
) -> None:
    proxy = make_proxy()
    with via(proxy, dovecot, box.user) as provider:
        assert find_token(provider).token == box.token
    assert len(proxy.connections) == 1 and not proxy.events
    counts = proxy.commands
    assert (counts["LOGIN"], counts["EXAMINE"], counts["UID SORT"], counts["LOGOUT"]) == (
        1,
        1,
        1,
        1,
    )
    assert proxy.count(BODY) == 1  # only the newest token mail is read whole
    assert proxy.count(HEADERS) == 1
    lines = [line for c in proxy.connections for line in c.commands]
    assert [ln for ln in lines if ln.startswith("LOGIN")] == [f"LOGIN {box.user} [redacted]"]
    assert not any(dovecot.users[box.user] in line for line in lines)
    assert proxy.bytes_up > 0 and proxy.bytes_down > len(crlf(token_mail(box.token)))

    passthrough = make_proxy(tls=False)  # IMAPS ciphertext: bytes, but no commands
    with via(passthrough, dovecot, box.user) as provider:
        assert find_token(provider).token == box.token
    assert not passthrough.commands
    assert passthrough.bytes_down > proxy.bytes_down  # TLS records and the handshake on top
    assert passthrough.bytes_up > proxy.bytes_up


# ---------------------------------------------------------------- transient faults: recovered

FaultMaker = Callable[[Box], Fault]

ONCE: dict[str, tuple[FaultMaker, dict[str, int], float]] = {
    # name: (fault, commands expected through the proxy, timeouts waited out)
    "reset-at-connect": (lambda b: Fault("reset"), {"^LOGIN": 1, "^UID SORT": 1, BODY: 1}, 0),
    "reset-during-login": (
        lambda b: Fault("reset", on_command=r"^LOGIN\b"),
        {"^LOGIN": 2, "^UID SORT": 1, BODY: 1},
        0,
    ),
    "reset-during-search": (
        lambda b: Fault("reset", on_command=r"^UID SORT"),
        {"^LOGIN": 2, "^UID SORT": 2, HEADERS: 1, BODY: 1},
        0,
    ),
    # The newest message is read with the first header batch (one write), so a cut message
    # repeats that pair: the headers too, never the search.
    "reset-mid-literal": (
        lambda b: Fault("reset", on_command=BODY, mid_literal=True, cut_after=b.cut_in_token()),
        {"^LOGIN": 2, "^UID SORT": 1, HEADERS: 2, BODY: 2},
        0,
    ),
    "close-mid-literal": (
        lambda b: Fault("close", on_command=BODY, mid_literal=True, cut_after=b.cut_in_token()),
        {"^LOGIN": 2, "^UID SORT": 1, HEADERS: 2, BODY: 2},
        0,
    ),
    "stall-mid-literal": (
        lambda b: Fault("stall", on_command=BODY, mid_literal=True),
        {"^LOGIN": 2, "^UID SORT": 1, HEADERS: 2, BODY: 2},
        1,
    ),
    # The greeting carries the capabilities, so LOGIN is the first command.
    "greets-then-silent": (
        lambda b: Fault("stall", on_command=r"."),
        {"^LOGIN": 2, "^UID SORT": 1, BODY: 1},
        1,
    ),
}


@pytest.mark.parametrize("name", list(ONCE))
def test_transient_fault_once_is_retried(
    dovecot: DovecotServer, box: Box, make_proxy: ProxyFactory, name: str
) -> None:
    make_fault, expected, stalls = ONCE[name]
    fault = make_fault(box)
    proxy = make_proxy(fault)
    with Clock() as clock, via(proxy, dovecot, box.user) as provider:
        assert find_token(provider).token == box.token
    assert fault.fired == 1
    assert len(proxy.connections) == 2  # one retry on a fresh connection
    if fault.cut_after is not None:  # the cut left a token-shaped prefix on the wire
        assert any("literal right after cut_after" in e for e in proxy.events), proxy.events
    # Only the interrupted step is repeated: a cut message is fetched again, not the search.
    assert {pattern: proxy.count(pattern) for pattern in expected} == expected
    assert clock.elapsed < stalls * TIMEOUT + SLACK
    assert clock.elapsed >= stalls * TIMEOUT * 0.9  # a stall is waited out, not skipped


def test_byte_count_fault_in_tls_ciphertext_is_retried(
    dovecot: DovecotServer, box: Box, make_proxy: ProxyFactory
) -> None:
    clean = make_proxy(tls=False)
    with via(clean, dovecot, box.user) as provider:
        assert find_token(provider).token == box.token
    half = clean.bytes_down // 2  # somewhere in the middle of the session
    proxy = make_proxy(Fault("reset", after_server_bytes=half), tls=False)
    with via(proxy, dovecot, box.user) as provider:
        assert find_token(provider).token == box.token
    assert len(proxy.connections) == 2
    assert proxy.connections[0].bytes_down == half


def test_starttls_session_cut_is_retried(
    dovecot: DovecotServer, box: Box, make_proxy: ProxyFactory
) -> None:
    clean = make_proxy(tls=False, port=dovecot.imap_port)  # plain port: STARTTLS passes through
    with via(clean, dovecot, box.user, scheme="imap") as provider:
        assert find_token(provider).token == box.token
    half = clean.bytes_down // 2
    proxy = make_proxy(Fault("reset", after_server_bytes=half), tls=False, port=dovecot.imap_port)
    with via(proxy, dovecot, box.user, scheme="imap") as provider:
        assert find_token(provider).token == box.token
    assert len(proxy.connections) == 2 and proxy.connections[0].bytes_down == half


def test_header_batch_retry_resumes_where_it_was(
    dovecot: DovecotServer,
    imap_user: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_proxy: ProxyFactory,
) -> None:
    user, password = imap_user
    monkeypatch.setenv(PASSWORD_ENV, password)
    token = new_token()
    reply = "Re: Your new Salesforce security token"  # names a token: the server keeps it
    newer = [
        (crlf(token_mail(new_token(), when=T0, subject=reply)), T0 + timedelta(minutes=i + 1))
        for i in range(30)
    ]
    dovecot.append_many(user, [(crlf(token_mail(token, when=T0)), T0), *newer])
    # 31 candidates: header batches of 10 and 21; the second batch fetch is reset once.
    proxy = make_proxy(Fault("reset", on_command=HEADERS, skip=1))
    with via(proxy, dovecot, user) as provider:
        assert find_token(provider).token == token
    assert proxy.count(HEADERS) == 3  # batch 1, batch 2 cut, batch 2 again: not batch 1 again
    assert proxy.count("^UID SORT") == 1
    assert proxy.count(BODY) == 2  # the newest (a reply) read with batch 1, then the token mail


# ---------------------------------------------------------------- persistent faults: exit 4

ALWAYS: dict[str, tuple[Callable[[], Fault], int, str]] = {
    # name: (fault, retries, message part); stalls use retries=1 to keep the test short
    "reset-at-connect": (lambda: Fault("reset", times=None), 2, "failed while connecting"),
    "reset-during-login": (
        lambda: Fault("reset", on_command=r"^LOGIN\b", times=None),
        2,
        "dropped the connection while logging in",
    ),
    "reset-during-search": (
        lambda: Fault("reset", on_command=r"^UID SORT", times=None),
        2,
        "while searching",
    ),
    "reset-mid-literal": (
        lambda: Fault("reset", on_command=BODY, mid_literal=True, times=None),
        2,
        "while fetching a message",
    ),
    "stall-mid-literal": (
        lambda: Fault("stall", on_command=BODY, mid_literal=True, times=None),
        1,
        "timed out while fetching a message",
    ),
    "greets-then-silent": (
        lambda: Fault("stall", on_command=r".", times=None),
        1,
        "timed out while logging in",
    ),
}


@pytest.mark.parametrize("name", list(ALWAYS))
def test_persistent_fault_is_mailbox_error_naming_the_host(
    dovecot: DovecotServer, box: Box, make_proxy: ProxyFactory, name: str
) -> None:
    make_fault, retries, message = ALWAYS[name]
    fault = make_fault()
    proxy = make_proxy(fault)
    attempts = retries + 1
    stalls = attempts if fault.action == "stall" else 0
    with (
        Clock() as clock,
        via(proxy, dovecot, box.user, retries=retries) as provider,
        pytest.raises(MailboxError) as info,
    ):
        find_token(provider)
    text = str(info.value)
    assert info.value.exit_code == 4
    assert proxy.where in text and message in text
    assert f"gave up after {attempts} attempts" in text
    assert "\n" not in text and box.token not in text
    assert len(proxy.connections) == attempts == fault.fired
    assert clock.elapsed < stalls * TIMEOUT + SLACK
    assert clock.elapsed >= stalls * TIMEOUT * 0.9


def test_refused_connection_is_retried_then_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "x")
    port = free_port()
    options = SourceOptions(timeout=TIMEOUT, profile={"retries": 2, "retry_backoff": 0.1})
    with (
        Clock() as clock,
        open_provider(f"imaps://dana@127.0.0.1:{port}", options) as provider,
        pytest.raises(MailboxError) as info,
    ):
        find_token(provider)
    assert str(info.value) == f"connection to 127.0.0.1:{port} refused (gave up after 3 attempts)"
    assert 0.1 * 0.5 + 0.2 * 0.5 <= clock.elapsed < SLACK  # two jittered pauses, no more


# ---------------------------------------------------------------- never retried


def test_wrong_password_is_never_retried(
    dovecot: DovecotServer,
    imap_user: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_proxy: ProxyFactory,
) -> None:
    user, _ = imap_user
    monkeypatch.setenv(PASSWORD_ENV, "Wrong-pw-77")
    proxy = make_proxy()
    with via(proxy, dovecot, user, retries=5) as provider, pytest.raises(AuthError) as info:
        find_token(provider)
    assert info.value.exit_code == 3 and proxy.where in str(info.value)
    assert len(proxy.connections) == 1 and proxy.commands["LOGIN"] == 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # Dovecot's log writer is asynchronous
        failed = [
            ln
            for ln in dovecot.log_text().splitlines()
            if f"user=<{user}>" in ln and "auth failed" in ln
        ]
        if failed:
            break
        time.sleep(0.05)
    assert len(failed) == 1 and "1 attempts" in failed[0]


def test_untrusted_certificate_is_never_retried(
    dovecot: DovecotServer, box: Box, make_proxy: ProxyFactory
) -> None:
    proxy = make_proxy()
    with via(proxy, dovecot, box.user, ca=False) as provider, pytest.raises(MailboxError) as info:
        find_token(provider)
    assert "did not verify" in str(info.value) and proxy.where in str(info.value)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert len(proxy.connections) == 1


@pytest.mark.parametrize("action", ["plaintext", "garbage"])
def test_failed_tls_handshake_is_not_retried(
    dovecot: DovecotServer, box: Box, make_proxy: ProxyFactory, action: Action
) -> None:
    proxy = make_proxy(Fault(action, times=None))
    with (
        Clock() as clock,
        via(proxy, dovecot, box.user) as provider,
        pytest.raises(MailboxError, match=f"TLS with {proxy.where} failed while connecting"),
    ):
        find_token(provider)
    assert len(proxy.connections) == 1  # a TLS mismatch repeats: no retry loop
    assert clock.elapsed < SLACK


# ---------------------------------------------------------------- never a partial message


@pytest.mark.parametrize("action", ["close", "reset"])
def test_cut_literal_is_an_error_never_a_shorter_message(
    dovecot: DovecotServer,
    box: Box,
    make_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
    action: Action,
) -> None:
    caplog.set_level(logging.DEBUG, logger="inbox_finder.providers.imap.wire")
    proxy = make_proxy(
        Fault(action, on_command=BODY, mid_literal=True, cut_after=box.cut_in_token())
    )
    with (
        via(proxy, dovecot, box.user, retries=0) as provider,
        pytest.raises(MailboxError, match="while fetching a message") as info,
    ):
        find_token(provider)  # the first 22 token characters arrived: a token-shaped prefix
    assert any("literal right after cut_after" in e for e in proxy.events), proxy.events
    assert "read literal size" in caplog.text  # imaplib was reading the literal when it broke
    assert isinstance(info.value.__cause__, imaplib.IMAP4.abort | OSError)
    assert box.token[:22] not in str(info.value) + caplog.text


# ---------------------------------------------------------------- UIDVALIDITY across a reconnect


def rebuild(dovecot: DovecotServer, user: str, folder: str) -> tuple[Callable[[], None], list[str]]:
    """A hook that replaces ``folder`` by a new one whose UID 1 holds another token (listed)."""
    replaced: list[str] = []

    def hook() -> None:
        dovecot.delete_folder(user, folder)
        other = new_token()
        dovecot.append_many(user, [(crlf(token_mail(other, when=T0)), T0)], folder=folder)
        replaced.append(other)

    return hook, replaced


def test_search_restarts_cleanly_on_a_new_uidvalidity(
    dovecot: DovecotServer,
    imap_user: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_proxy: ProxyFactory,
) -> None:
    user, password = imap_user
    monkeypatch.setenv(PASSWORD_ENV, password)
    dovecot.append_many(user, [(crlf(token_mail(new_token(), when=T0)), T0)], folder="Rebuilt")
    hook, replaced = rebuild(dovecot, user, "Rebuilt")
    proxy = make_proxy(Fault("reset", on_command=r"^UID SORT", hook=hook))
    with via(proxy, dovecot, user, folder="Rebuilt") as provider:
        assert find_token(provider).token == replaced[0]
    assert proxy.count("^UID SORT") == 2


def test_fetch_after_reconnect_checks_uidvalidity(
    dovecot: DovecotServer,
    imap_user: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_proxy: ProxyFactory,
) -> None:
    user, password = imap_user
    monkeypatch.setenv(PASSWORD_ENV, password)
    dovecot.append_many(user, [(crlf(token_mail(new_token(), when=T0)), T0)], folder="Rebuilt")
    hook, replaced = rebuild(dovecot, user, "Rebuilt")
    proxy = make_proxy(Fault("reset", on_command=BODY, hook=hook))
    with (
        via(proxy, dovecot, user, folder="Rebuilt") as provider,
        pytest.raises(MailboxError, match=r"UIDVALIDITY .* changed .*search again") as info,
    ):
        find_token(provider)  # UID 1 now holds another message: never read it as the one found
    assert proxy.where in str(info.value) and replaced[0] not in str(info.value)
    assert proxy.count(BODY) == 1 and len(proxy.connections) == 2


# ---------------------------------------------------------------- concurrency


@pytest.fixture
def four_boxes(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> list[Box]:
    """Four mailboxes, each with its own password variable (no shared INBOX_FINDER_PASSWORD)."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    boxes = []
    for _ in range(4):
        user, password = dovecot.new_user("conc")
        monkeypatch.setenv(f"IF_TEST_PW_{user}", password)
        boxes.append(Box(user, fill(dovecot, user)))
    return boxes


def lookup_in_parallel(
    boxes: list[Box], url: Callable[[str], str], ca_file: str, n: int = 20, retries: int = 2
) -> dict[int, str | BaseException]:
    """``n`` threads, each its own provider, released together; token (or error) per thread."""
    barrier = threading.Barrier(n)
    results: dict[int, str | BaseException] = {}

    def work(i: int) -> None:
        user = boxes[i % len(boxes)].user
        profile = {"password_env": f"IF_TEST_PW_{user}", "retries": retries}
        options = SourceOptions(
            ca_file=ca_file, timeout=10, profile=profile | {"retry_backoff": BACKOFF}
        )
        try:
            provider = open_provider(url(user), options)
            barrier.wait(timeout=10)
            with provider:
                results[i] = find_token(provider).token
        except BaseException as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return results


def test_twenty_lookups_at_once(dovecot: DovecotServer, four_boxes: list[Box]) -> None:
    results = lookup_in_parallel(four_boxes, dovecot.url, dovecot.ca_file)
    assert results == {i: four_boxes[i % 4].token for i in range(20)}
    for b in four_boxes:  # server-side: 5 read-only sessions each, one whole message each
        sessions = [s for s in dovecot.wait_logouts(b.user, 6) if s.get("appended") == 0]
        assert len(sessions) == 5
        assert all(s["body_count"] == 1 and s["expunged"] == 0 for s in sessions)


def test_twenty_lookups_at_once_survive_resets(
    dovecot: DovecotServer, four_boxes: list[Box], make_proxy: ProxyFactory
) -> None:
    proxy = make_proxy(Fault("reset", on_command=r"^UID SORT", times=3))
    results = lookup_in_parallel(four_boxes, proxy.url, dovecot.ca_file)
    assert results == {i: four_boxes[i % 4].token for i in range(20)}
    assert len(proxy.connections) == 23 and proxy.commands["UID SORT"] == 23
    assert proxy.max_active >= 5  # the lookups really overlapped (20 when the box is idle)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """cli.main() installs its own root handler and level; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_cli_persistent_fault_exits_4_with_one_line(
    dovecot: DovecotServer,
    box: Box,
    make_proxy: ProxyFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    keep_logging: None,
) -> None:
    proxy = make_proxy(Fault("reset", on_command=r"^LOGIN\b", times=None))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox.flaky]\nurl = "{proxy.url(box.user)}"\nca_file = "{dovecot.ca_file}"\n'
        f"retries = 1\nretry_backoff = {BACKOFF}\n"
    )
    with Clock() as clock:
        code = main(["--config", str(config), "find", "flaky", "--timeout", str(TIMEOUT)])
    out, err = capsys.readouterr()
    assert (code, out) == (4, "")
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("inbox-finder: error: ") and proxy.where in err
    assert "gave up after 2 attempts" in err and "Traceback" not in err
    assert len(proxy.connections) == 2
    assert clock.elapsed < SLACK


# ---------------------------------------------------------------- policy and classification


def test_retry_policy_keys() -> None:
    assert RetryPolicy.from_profile({}, DEFAULT_RETRY) == DEFAULT_RETRY
    assert (DEFAULT_RETRY.max_attempts, DEFAULT_RETRY.base_delay) == (3, 0.5)  # retries = 2
    none = RetryPolicy.from_profile({"retries": 0, "retry_backoff": 0}, DEFAULT_RETRY)
    assert (none.max_attempts, none.base_delay) == (1, 0.0)
    for bad in ({"retries": -1}, {"retries": "3"}, {"retries": True}, {"retries": 11}):
        with pytest.raises(ConfigError, match="retries"):
            RetryPolicy.from_profile(bad, DEFAULT_RETRY)
    for bad in ({"retry_backoff": -1}, {"retry_backoff": "1s"}, {"retry_backoff": 61}):
        with pytest.raises(ConfigError, match="retry_backoff"):
            RetryPolicy.from_profile(bad, DEFAULT_RETRY)
    with pytest.raises(ConfigError, match="retries"):
        open_provider("imaps://d@h", SourceOptions(profile={"retries": 1.5}))
    policy = RetryPolicy.from_profile({"retries": 3, "retry_backoff": 0.2}, DEFAULT_RETRY)
    for n, cap in ((1, 0.2), (2, 0.4), (3, 0.8)):
        assert all(cap / 2 <= policy.pause(n) <= cap for _ in range(50))


def _dropped_login() -> LoginError:
    """What imapclient raises when the connection breaks during LOGIN (the abort as context)."""
    try:
        try:
            raise imaplib.IMAP4.abort("command: LOGIN => socket error: EOF")
        except imaplib.IMAP4.error as exc:
            raise LoginError(str(exc))  # noqa: B904 - imapclient's own pattern, on purpose
    except LoginError as error:
        return error


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError(), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (OSError(113, "No route to host"), True),
        (imaplib.IMAP4.abort("socket error: EOF"), True),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), True),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), True),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), False),
        (ssl.SSLCertVerificationError(1, "bad cert"), False),
        (ssl.SSLError(1, "WRONG_VERSION_NUMBER"), False),
        (LoginError("[AUTHENTICATIONFAILED] no"), False),
        (imaplib.IMAP4.error("BAD [PARSE]"), False),
        (ValueError("parser"), False),
        (None, False),
    ],
)
def test_transient_classification(exc: BaseException | None, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_login_error_from_a_dropped_connection_is_not_an_auth_error() -> None:
    p = ImapProvider(parse_imap_url("imaps://dana@mail.example:993"))
    with (
        pytest.raises(MailboxError, match=r"mail\.example:993 dropped the connection") as info,
        p._errors("logging in"),
    ):
        raise _dropped_login()
    assert isinstance(info.value.__cause__, imaplib.IMAP4.abort)
    with pytest.raises(AuthError), p._errors("logging in"):
        raise LoginError("[AUTHENTICATIONFAILED] Authentication failed.")


def test_temporary_login_failure_is_a_retryable_server_error() -> None:
    """NO [UNAVAILABLE] (RFC 5530) means the server's auth backend is down: exit 4, retried."""
    from imapclient import SocketTimeout
    from imapclient.exceptions import LoginError
    from inbox_finder.providers.imap.provider import parse_imap_url
    from inbox_finder.providers.imap.session import ImapSession

    temporary = LoginError("b'[UNAVAILABLE] Temporary authentication failure. [host:2024-01-01]'")
    wrong = LoginError("b'[AUTHENTICATIONFAILED] Authentication failed.'")
    assert is_transient(temporary) and not is_transient(wrong)
    session = ImapSession(
        parse_imap_url("imaps://dana@imap.example.com"),
        ca_file=None,
        timeout=SocketTimeout(1, 1),
        profile={},
        auth="password",
        retry=RetryPolicy(max_attempts=1),
    )
    assert type(session.translate(temporary, "logging in")) is MailboxError
    assert type(session.translate(wrong, "logging in")) is AuthError
