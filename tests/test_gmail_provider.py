"""Gmail provider: the real google-api-python-client and google-auth over HTTP to the emulator."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from corpus_util import GoldenCorpus, load_expected, positives
from emulators.gmail_emulator import GmailEmulator, parse_query
from inbox_finder.providers.gmail import auth as google_auth
from inbox_finder.providers.gmail.provider import GmailProvider
from loopback import FakeClock
from mailboxes import GmailFixtures

from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import available_schemes
from inbox_finder.errors import AuthError, ConfigError, ExitCode, MailboxError
from inbox_finder.net.retry import RetryPolicy
from inbox_finder.testing import ProviderContract

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SF = "support@salesforce.com"


def mail(sender: str, subject: str, n: int, body: str = "Security token: x") -> bytes:
    return (
        f"From: {sender}\r\nTo: dana@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <m{n}@example.com>\r\nDate: Fri, 1 Mar 2024 12:00:00 +0000\r\n"
        f"Authentication-Results: mx.google.com; dmarc=pass header.from=salesforce.com\r\n"
        f"\r\n{body} {n}\r\n"
    ).encode()


@pytest.fixture
def emu() -> Iterator[GmailEmulator]:
    with GmailEmulator() as emulator:
        yield emulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def write_creds(path: Path, info: dict[str, Any]) -> Path:
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


@pytest.fixture
def creds(emu: GmailEmulator, tmp_path: Path) -> Path:
    """Authorized-user JSON with an expired access token (the usual state of a CLI run)."""
    return write_creds(
        tmp_path / "gmail.json",
        emu.authorized_user_info(token="ya29.stale", expiry=T0 - timedelta(days=1)),
    )


@pytest.fixture
def fresh_creds(emu: GmailEmulator, tmp_path: Path) -> Path:
    """Authorized-user JSON whose access token is valid, so no refresh round trip happens."""
    return write_creds(
        tmp_path / "fresh.json",
        emu.authorized_user_info(
            token=emu.issue_access_token(), expiry=datetime.now(UTC) + timedelta(hours=1)
        ),
    )


def make(
    emu: GmailEmulator,
    creds: Path,
    clock: FakeClock | None = None,
    url: str = "gmail://me",
    **profile: Any,
) -> GmailProvider:
    profile = {
        "credentials": str(creds),
        "api_endpoint": emu.url,
        "token_uri": emu.token_uri,
        **profile,
    }
    retry = (
        RetryPolicy(
            max_attempts=None,
            max_total=30.0,
            base_delay=0.5,
            max_delay=4.0,
            sleep=clock.sleep,
            clock=clock.clock,
            random=lambda: 0.5,
        )
        if clock
        else None
    )
    return GmailProvider.from_url(url, SourceOptions(timeout=5.0, profile=profile), retry=retry)


def refs(provider: GmailProvider, query: Query | None = None) -> list[str]:
    return [c.ref for c in provider.search(query or Query())]


# --- search order, filtering, paging --------------------------------------------------------


def test_newest_first_by_internal_date_when_list_order_differs(
    emu: GmailEmulator, creds: Path
) -> None:
    offsets = [3, 0, 5, 1, 4, 2]
    ids = {
        h: emu.add_message(
            mail(SF, "Your new Salesforce security token", h), T0 + timedelta(hours=h)
        )
        for h in offsets
    }
    emu.list_order = lambda msgs: msgs  # insertion order: not newest first
    with make(emu, creds) as gmail:
        cands = list(gmail.search(Query()))
    assert [c.ref for c in cands] == [ids[h] for h in sorted(offsets, reverse=True)]
    assert [c.received for c in cands] == [T0 + timedelta(hours=h) for h in (5, 4, 3, 2, 1, 0)]
    assert all(c.received_source == "server" and c.received.tzinfo is UTC for c in cands)
    head = cands[0].headers or b""
    assert head.endswith(b"\r\n\r\n") and b"Subject: Your new Salesforce security token" in head
    assert b"Authentication-Results: mx.google.com; dmarc=pass" in head


def test_only_salesforce_senders_are_candidates(emu: GmailEmulator, creds: Path) -> None:
    keep = [
        emu.add_message(mail(SF, "token", 1), T0),
        emu.add_message(mail("Salesforce <support@emea.salesforce.com>", "token", 2), T0),
    ]
    emu.add_message(mail("bob@example.com", "token", 3), T0 + timedelta(hours=1))
    emu.add_message(mail("noreply@sales-force.example", "token", 4), T0 + timedelta(hours=2))
    with make(emu, creds) as gmail:
        assert sorted(refs(gmail)) == sorted(keep)
    lists = [r for r in emu.api_calls() if r.path.endswith("/messages")]
    assert lists[0].query["q"] == ["from:(salesforce.com)"]


def test_several_sender_domains_are_ored(emu: GmailEmulator, creds: Path) -> None:
    a = emu.add_message(mail(SF, "token", 1), T0)
    b = emu.add_message(mail("no-reply@patronmanager.example", "token", 2), T0)
    with make(emu, creds) as gmail:
        got = refs(gmail, Query(sender_domains=("salesforce.com", "patronmanager.example")))
    assert sorted(got) == sorted([a, b])
    assert emu.api_calls()[0].query["q"] == ["from:(salesforce.com OR patronmanager.example)"]


def test_since_narrows_server_side_and_filters_exactly(emu: GmailEmulator, creds: Path) -> None:
    since = T0 + timedelta(milliseconds=400)
    emu.add_message(mail(SF, "old", 1), T0 - timedelta(days=2))  # excluded by the server
    emu.add_message(mail(SF, "same second, earlier", 2), T0)  # server returns it; we drop it
    at = emu.add_message(mail(SF, "exactly since", 3), since)
    later = emu.add_message(mail(SF, "later", 4), since + timedelta(hours=1))
    with make(emu, creds) as gmail:
        assert refs(gmail, Query(since=since)) == [later, at]
    q = emu.api_calls()[0].query["q"][0]
    assert f"after:{int(since.timestamp()) - 1}" in q
    assert len([r for r in emu.api_calls() if r.query.get("format") == ["metadata"]]) == 3


def test_fetch_returns_the_exact_raw_bytes(emu: GmailEmulator, creds: Path) -> None:
    raws = [
        mail(SF, "token", 1) + b"\xe2\x9c\x93 8-bit \xff\r\n",
        b"From: support@salesforce.com\nSubject: LF only\n\nx",
        b"From: support@salesforce.com\r\n\r\n" + bytes(range(256)),
    ]
    for i, raw in enumerate(raws):
        emu.add_message(raw, T0 + timedelta(minutes=i))
    with make(emu, creds) as gmail:
        got = [gmail.fetch(c) for c in gmail.search(Query())]
    assert got == list(reversed(raws))
    assert all(r.query.get("format") == ["raw"] for r in emu.api_calls()[-3:])


@pytest.mark.parametrize("order", ["shuffled", "oldest-first"])
def test_paging_across_slices_stays_strictly_newest_first(
    emu: GmailEmulator, creds: Path, order: str
) -> None:
    ids = [emu.add_message(mail(SF, "token", i), T0 + timedelta(minutes=7 * i)) for i in range(23)]
    for i in range(5):
        emu.add_message(mail("bob@example.com", "noise", 100 + i), T0 + timedelta(minutes=i))

    def shuffled(msgs: list[Any]) -> list[Any]:
        newest = sorted(msgs, key=lambda m: -m.internal_ms)  # swap neighbours: roughly sorted
        for i in range(0, len(newest) - 1, 2):
            newest[i], newest[i + 1] = newest[i + 1], newest[i]
        return newest

    def oldest_first(msgs: list[Any]) -> list[Any]:
        return sorted(msgs, key=lambda m: m.internal_ms)

    emu.list_order = shuffled if order == "shuffled" else oldest_first
    with make(emu, creds, page_size=4) as gmail:
        got = refs(gmail)
    assert got == list(reversed(ids))
    lists = [r for r in emu.api_calls() if r.path.endswith("/messages")]
    assert len(lists) > 3
    assert any("pageToken" in r.query or "before:" in r.query["q"][0] for r in lists)
    metadata_gets = [r for r in emu.api_calls() if r.query.get("format") == ["metadata"]]
    assert sorted(r.path.rsplit("/", 1)[1] for r in metadata_gets) == sorted(ids)  # each once


def test_paging_with_since_stops_at_since(emu: GmailEmulator, creds: Path) -> None:
    ids = [emu.add_message(mail(SF, "token", i), T0 + timedelta(hours=i)) for i in range(12)]
    with make(emu, creds, page_size=3) as gmail:
        assert refs(gmail, Query(since=T0 + timedelta(hours=5))) == list(reversed(ids[5:]))


def test_search_is_lazy(emu: GmailEmulator, fresh_creds: Path) -> None:
    for i in range(30):
        emu.add_message(mail(SF, "token", i), T0 + timedelta(minutes=i))
    with make(emu, fresh_creds, page_size=5) as gmail:
        first = next(gmail.search(Query()))
        assert first.received == T0 + timedelta(minutes=29)
        # first page, its metadata batch, one after: list proving the slice; nothing more.
        assert len(emu.round_trips()) == 3
        assert len(emu.api_calls()) == 2 + 5


@pytest.mark.parametrize(("matching", "trips"), [(12, 3), (60, 4)])
def test_api_calls_for_one_lookup(
    emu: GmailEmulator, fresh_creds: Path, matching: int, trips: int
) -> None:
    for i in range(matching):
        emu.add_message(
            mail(SF, "Your new Salesforce security token", i), T0 + timedelta(minutes=i)
        )
    emu.add_message(mail("bob@example.com", "hi", 999), T0 + timedelta(days=1))
    with make(emu, fresh_creds) as gmail:
        newest = next(gmail.search(Query()))
        raw = gmail.fetch(newest)
    assert raw.endswith(f"{matching - 1}\r\n".encode())
    # list, metadata batch, raw get (+ one after: list when more than one page matches)
    assert len(emu.round_trips()) == trips
    assert [r.path for r in emu.round_trips()].count("/batch/gmail/v1") == 1
    assert len(emu.api_calls()) == (trips - 1) + min(matching, 50)


# --- credentials ----------------------------------------------------------------------------


def test_expired_token_is_refreshed_and_saved_back_0600(emu: GmailEmulator, creds: Path) -> None:
    before = json.loads(creds.read_text())
    creds.chmod(0o600)
    emu.add_message(mail(SF, "token", 1), T0)
    with make(emu, creds) as gmail:
        assert len(refs(gmail)) == 1
    after = json.loads(creds.read_text())
    assert len(emu.round_trips("/token")) == 1
    assert after["token"] != before["token"] and after["token"] in emu.access_tokens
    assert after["refresh_token"] == before["refresh_token"]
    assert after["token_uri"] == before["token_uri"]
    expiry = datetime.fromisoformat(after["expiry"].rstrip("Z")).replace(tzinfo=UTC)
    assert expiry > datetime.now(UTC)
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    # The saved token is used as is next time: no second refresh.
    with make(emu, creds) as gmail:
        refs(gmail)
    assert len(emu.round_trips("/token")) == 1


def test_valid_token_is_not_rewritten(emu: GmailEmulator, fresh_creds: Path) -> None:
    content, mtime = fresh_creds.read_bytes(), fresh_creds.stat().st_mtime_ns
    with make(emu, fresh_creds) as gmail:
        refs(gmail)
    assert fresh_creds.read_bytes() == content and fresh_creds.stat().st_mtime_ns == mtime
    assert emu.round_trips("/token") == []


def test_profile_token_uri_overrides_the_files(emu: GmailEmulator, tmp_path: Path) -> None:
    info = emu.authorized_user_info()
    info["token_uri"] = google_auth.GOOGLE_TOKEN_URI  # would need the internet if honoured
    path = write_creds(tmp_path / "c.json", info)
    emu.add_message(mail(SF, "token", 1), T0)
    with make(emu, path) as gmail:
        assert len(refs(gmail)) == 1
    assert len(emu.round_trips("/token")) == 1


def test_invalid_grant_is_auth_error_with_the_login_command(
    emu: GmailEmulator, creds: Path, clock: FakeClock
) -> None:
    emu.revoke_all()
    with make(emu, creds, clock) as gmail, pytest.raises(AuthError) as info:
        refs(gmail)
    assert "invalid_grant" in str(info.value)
    assert "inbox-finder login gmail --client-secrets FILE" in str(info.value)
    assert info.value.exit_code == ExitCode.AUTH
    assert len(emu.round_trips()) == 1 and clock.sleeps == []  # one refresh try, no loop


def test_rejected_access_token_gets_one_refresh(emu: GmailEmulator, tmp_path: Path) -> None:
    path = write_creds(
        tmp_path / "c.json",
        emu.authorized_user_info(
            token="ya29.revoked", expiry=datetime.now(UTC) + timedelta(hours=1)
        ),
    )
    emu.add_message(mail(SF, "token", 1), T0)
    with make(emu, path) as gmail:
        assert len(refs(gmail)) == 1
    assert [r.status for r in emu.round_trips()][:3] == [401, 200, 200]  # list, /token, list
    assert json.loads(path.read_text())["token"] in emu.access_tokens  # saved on close


def test_persistent_401_is_auth_error_without_retries(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    emu.fail_next(100, 401)
    with make(emu, fresh_creds, clock) as gmail, pytest.raises(AuthError) as info:
        refs(gmail)
    assert "HTTP 401" in str(info.value) and "inbox-finder login gmail" in str(info.value)
    assert [(r.path, r.status) for r in emu.round_trips()] == [
        ("/gmail/v1/users/me/messages", 401),
        ("/token", 200),
        ("/gmail/v1/users/me/messages", 401),
    ]
    assert clock.sleeps == []


def test_other_mailbox_is_forbidden_not_retried(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    with make(emu, fresh_creds, clock, url="gmail://boss@example.com") as gmail:
        with pytest.raises(AuthError, match=r"HTTP 403.*Delegation denied"):
            refs(gmail)
        assert gmail.source == "gmail://boss@example.com"
    assert len(emu.round_trips()) == 1 and clock.sleeps == []


# --- retries and failures -------------------------------------------------------------------


def test_429_with_retry_after_is_honoured(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    emu.add_message(mail(SF, "token", 1), T0)
    emu.fail_next(2, 429, retry_after="3")
    with make(emu, fresh_creds, clock) as gmail:
        assert len(refs(gmail)) == 1
    assert clock.sleeps == [3.0, 3.0]  # Retry-After wins over the shorter backoff
    assert [r.status for r in emu.round_trips()][:3] == [429, 429, 200]


def test_429_without_retry_after_backs_off_exponentially(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    emu.fail_next(3, 429)
    with make(emu, fresh_creds, clock) as gmail:
        assert refs(gmail) == []
    assert clock.sleeps == [0.375, 0.75, 1.5]  # base 0.5 * 2^n, equal jitter at 0.5


def test_rate_limit_403_and_503_are_retried(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    emu.fail_next(1, 403, reason="userRateLimitExceeded")
    emu.fail_next(1, 503)
    with make(emu, fresh_creds, clock) as gmail:
        assert refs(gmail) == []
    assert [r.status for r in emu.round_trips()] == [403, 503, 200]


def test_throttled_batch_parts_are_retried_alone(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    ids = [emu.add_message(mail(SF, "token", i), T0 + timedelta(minutes=i)) for i in range(6)]
    emu.fail_next(2, 429, prefix="/gmail/v1/users/me/messages/")  # the first two parts
    with make(emu, fresh_creds, clock) as gmail:
        assert refs(gmail) == list(reversed(ids))
    batches = emu.round_trips("/batch/")
    assert len(batches) == 2 and len(clock.sleeps) == 1
    parts = [r for r in emu.requests if r.in_batch]
    assert len(parts) == 6 + 2


def test_persistent_500_gives_up_within_the_budget(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    emu.fail_next(1000, 500)
    with make(emu, fresh_creds, clock) as gmail, pytest.raises(MailboxError) as info:
        refs(gmail)
    assert "HTTP 500" in str(info.value) and "gave up" in str(info.value)
    assert info.value.exit_code == ExitCode.MAILBOX
    assert 0 < sum(clock.sleeps) <= 30.0 and max(clock.sleeps) <= 4.0


def test_persistent_503_real_clock_is_bounded(emu: GmailEmulator, fresh_creds: Path) -> None:
    emu.fail_next(1000, 503)
    gmail = make(emu, fresh_creds, retry_max_seconds=0.4)
    gmail.retry = RetryPolicy(max_attempts=None, max_total=0.4, base_delay=0.05, max_delay=0.1)
    started = time.monotonic()
    with gmail, pytest.raises(MailboxError, match="HTTP 503"):
        refs(gmail)
    assert time.monotonic() - started < 2.0
    assert len(emu.round_trips()) >= 3


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_api_endpoint_is_mailbox_error(
    emu: GmailEmulator, fresh_creds: Path, clock: FakeClock
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with (
        make(emu, fresh_creds, clock, api_endpoint=url) as gmail,
        pytest.raises(MailboxError, match="cannot reach the Gmail API") as info,
    ):
        refs(gmail)
    assert "refused" in str(info.value).lower() and clock.sleeps == []


def test_unreachable_token_endpoint_is_mailbox_error(emu: GmailEmulator, creds: Path) -> None:
    token_uri = f"http://127.0.0.1:{closed_port()}/token"
    with (
        make(emu, creds, token_uri=token_uri) as gmail,
        pytest.raises(MailboxError, match="token endpoint"),
    ):
        refs(gmail)


def test_endpoint_from_environment(
    emu: GmailEmulator, fresh_creds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOX_FINDER_GMAIL_ENDPOINT", emu.url)
    options = SourceOptions(profile={"credentials": str(fresh_creds)})
    with GmailProvider.from_url("gmail://me", options) as gmail:
        assert refs(gmail) == []
    assert len(emu.api_calls()) == 1


# --- secrets, laziness, configuration -------------------------------------------------------


def test_no_secret_in_logs_or_errors(
    emu: GmailEmulator, creds: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.add_message(mail(SF, "token", 1), T0)
    info = json.loads(creds.read_text())
    errors: list[str] = []
    with make(emu, creds, clock) as gmail:
        gmail.fetch(next(gmail.search(Query())))
    emu.fail_next(100, 401)
    with make(emu, creds, clock) as gmail, pytest.raises(AuthError) as e1:
        refs(gmail)
    errors.append(str(e1.value))
    emu.revoke_all()
    emu.faults.clear()
    expired = write_creds(
        creds.parent / "x.json", {**info, "token": "ya29.x", "expiry": "2000-01-01T00:00:00Z"}
    )
    with make(emu, expired, clock) as gmail, pytest.raises(AuthError) as e2:
        refs(gmail)
    errors.append(str(e2.value))
    secrets = [
        *emu.access_tokens,
        info["refresh_token"],
        info["client_secret"],
        json.loads(creds.read_text())["token"],
    ]
    assert caplog.records and "Making request" in caplog.text  # the SDK did log at DEBUG
    for secret in secrets:
        assert secret not in caplog.text
        assert all(secret not in e for e in errors)


def test_importing_the_provider_does_not_import_google() -> None:
    code = (
        "import sys, inbox_finder.providers.gmail.provider, inbox_finder.providers.gmail.auth;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('googleapiclient', 'google', 'google_auth_oauthlib', 'httplib2', "
        "'google_auth_httplib2')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "url",
    ["gmail://", "gmail://dana", "imap://me", "gmail://a b@c.d", "gmail://dana@example.com/INBOX"],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        GmailProvider.from_url(url, SourceOptions())


def test_credentials_file_problems(
    emu: GmailEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    expected = tmp_path / "cache" / "inbox-finder" / "gmail" / "dana@example.com.json"
    assert google_auth.default_credentials_path("dana@example.com") == expected
    with (
        GmailProvider.from_url("gmail://dana@example.com", SourceOptions()) as gmail,
        pytest.raises(AuthError, match="inbox-finder login gmail"),
    ):
        refs(gmail)
    missing = make(emu, tmp_path / "nope.json")
    with missing, pytest.raises(ConfigError, match="not found"):
        refs(missing)
    bad = write_creds(tmp_path / "bad.json", {"client_id": "x"})
    with make(emu, bad) as gmail, pytest.raises(ConfigError, match="authorized-user"):
        refs(gmail)
    shared = write_creds(tmp_path / "shared.json", emu.authorized_user_info())
    shared.chmod(0o644)
    sent = len(emu.requests)
    with (
        make(emu, shared) as gmail,
        pytest.raises(ConfigError, match=r"readable by other users.*chmod 600"),
    ):
        refs(gmail)
    assert len(emu.requests) == sent  # refused before any use of the secret
    shared.chmod(0o600)
    with make(emu, shared) as gmail:
        assert refs(gmail) == []  # empty mailbox: no error once the file is private


def test_service_account_with_domain_wide_delegation(emu: GmailEmulator, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_email = "scanner@project.iam.gserviceaccount.com"
    emu.service_accounts[sa_email] = key.public_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sa_file = write_creds(
        tmp_path / "sa.json",
        {
            "type": "service_account",
            "client_email": sa_email,
            "private_key": pem,
            "private_key_id": "k1",
            "client_id": "1",
            "token_uri": emu.token_uri,
        },
    )
    mine = emu.add_message(mail(SF, "token", 1), T0)
    options = SourceOptions(profile={"service_account_file": str(sa_file), "api_endpoint": emu.url})
    with GmailProvider.from_url("gmail://dana@example.com", options) as gmail:
        assert refs(gmail) == [mine]
    assert emu.round_trips("/token")[0].status == 200
    outsider = SourceOptions(profile={**options.profile, "subject": "eve@example.com"})
    with (
        GmailProvider.from_url("gmail://me", outsider) as gmail,
        pytest.raises(AuthError, match=r"unauthorized_client.*domain-wide delegation"),
    ):
        refs(gmail)
    with (
        pytest.raises(ConfigError, match="subject"),
        GmailProvider.from_url(
            "gmail://me",
            SourceOptions(profile={"service_account_file": str(sa_file), "api_endpoint": emu.url}),
        ) as gmail,
    ):
        refs(gmail)


# --- login ----------------------------------------------------------------------------------


class _Browser(io.StringIO):
    """Plays the user's browser: opens the first URL written to it, like a person would."""

    def __init__(self) -> None:
        super().__init__()
        self.thread: threading.Thread | None = None

    def write(self, text: str) -> int:
        match = re.search(r"(http://127\.0\.0\.1:\d+/auth\?\S+)", text)
        if match and self.thread is None:
            self.thread = threading.Thread(target=urllib.request.urlopen, args=(match.group(1),))
            self.thread.start()
        return super().write(text)


@pytest.mark.parametrize("no_browser", [True, False])
def test_login_stores_credentials_that_work(
    emu: GmailEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_browser: bool
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator's token URI is http
    secrets_file = tmp_path / "client.json"
    secrets_file.write_text(json.dumps(emu.client_secrets()))
    browser, stdout = _Browser(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", browser)
    monkeypatch.setattr(sys, "stdout", stdout)
    if not no_browser:

        class Opener:
            def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
                browser.write(url)
                return True

        monkeypatch.setattr("webbrowser.get", lambda using=None: Opener())
    out = google_auth.run_login(
        secrets_file, no_browser=no_browser, out_path=tmp_path / "o" / "gmail.json", timeout=20
    )
    assert browser.thread is not None
    browser.thread.join(10)
    assert stdout.getvalue() == ""  # stdout carries results only
    assert ("ssh -L" in browser.getvalue()) is no_browser  # headless: how to forward the port
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    info = json.loads(out.read_text())
    assert info["refresh_token"] in emu.refresh_tokens and info["scopes"] == [google_auth.SCOPE]
    emu.add_message(mail(SF, "token", 1), T0)
    with make(emu, out) as gmail:
        assert len(refs(gmail)) == 1


def test_login_with_a_bad_client_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        google_auth.run_login(tmp_path / "x.json", no_browser=True, out_path=None)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="client secrets"):
        google_auth.run_login(tmp_path / "x.json", no_browser=True, out_path=None)


# --- the emulator itself and the shared contract -------------------------------------------


def test_emulator_history_and_query_language(emu: GmailEmulator) -> None:
    first = emu.current_history_id()
    new = emu.add_message(mail(SF, "token", 1), T0)

    def get(path: str) -> tuple[int, Any]:
        req = urllib.request.Request(
            emu.url + path, headers={"Authorization": f"Bearer {emu.issue_access_token()}"}
        )
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    status, body = get(f"/gmail/v1/users/me/history?startHistoryId={first}")
    assert status == 200 and body["history"][0]["messagesAdded"][0]["message"]["id"] == new
    emu.history_floor = first + 100
    status, body = get(f"/gmail/v1/users/me/history?startHistoryId={first}")
    assert status == 404 and body["error"]["errors"][0]["reason"] == "notFound"
    assert get("/gmail/v1/users/me/profile")[1]["emailAddress"] == "dana@example.com"
    m = emu.mailboxes["dana@example.com"][new]
    assert parse_query("from:(salesforce.com OR force.com) after:1709294399")(m)
    assert not parse_query("from:salesforce.com -subject:token")(m)
    assert parse_query("{from:nobody subject:token} before:2024/03/02")(m)


def test_corpus_order_and_bytes(emu: GmailEmulator, fresh_creds: Path) -> None:
    corpus = Path(__file__).parent / "corpus"
    ids = emu.load_corpus(corpus)
    expected = sorted(load_expected(), key=lambda e: e.received, reverse=True)
    emu.list_order = lambda msgs: msgs  # file order, not date order
    with make(emu, fresh_creds) as gmail:
        cands = list(gmail.search(Query(sender_domains=())))
        assert [c.ref for c in cands] == [ids[e.file] for e in expected]
        assert [c.received for c in cands] == [e.received for e in expected]
        assert gmail.fetch(cands[-1]) == (corpus / expected[-1].file).read_bytes()


class TestGmailContract(GmailFixtures, ProviderContract):
    pass


class TestGmailGoldenContract(GoldenCorpus, TestGmailContract):
    pass


def test_cli_find_with_a_gmail_profile(
    emu: GmailEmulator,
    creds: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from inbox_finder.cli.main import main

    emu.load_corpus(Path(__file__).parent / "corpus")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox.work]\nurl = "gmail://me"\ncredentials = "{creds}"\n'
        f'token_uri = "{emu.token_uri}"\napi_endpoint = "{emu.url}"\n'
        f"retry_max_seconds = 0\n"
    )
    monkeypatch.setenv("INBOX_FINDER_CONFIG", str(config))
    expected = positives()

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("find", "work", "--json")
    assert code == 0 and json.loads(out)["token"] == expected[0].token
    assert json.loads(out)["received"] == expected[0].received.isoformat()
    assert run("find", "work", "-q")[1].strip() == expected[0].token
    code, out, _ = run("find", "work", "--all", "--json")
    assert [f["token"] for f in json.loads(out)] == [e.token for e in expected]
    code, out, _ = run("find", "work", "--username", "tz@example.com", "-q")
    assert out.strip() == next(e.token for e in expected if e.username == "tz@example.com")
    since = expected[2].received.isoformat()
    code, out, _ = run("find", "work", "--since", since, "--all", "--json")
    assert [f["token"] for f in json.loads(out)] == [e.token for e in expected[:3]]
    emu.revoke_all()
    stale = {**json.loads(creds.read_text()), "expiry": "2000-01-01T00:00:00Z"}
    creds.write_text(json.dumps(stale))
    code, out, err = run("find", "work")
    assert code == 3 and out == "" and "inbox-finder login gmail" in err
    dead = f'http://127.0.0.1:{closed_port()}"'
    config.write_text(config.read_text().replace(emu.url + '"', dead))
    creds.write_text(
        json.dumps(
            emu.authorized_user_info(
                token=emu.issue_access_token(), expiry=datetime.now(UTC) + timedelta(hours=1)
            )
        )
    )
    code, out, err = run("find", "work")
    assert code == 4 and out == "" and "cannot reach the Gmail API" in err


def test_gmail_entry_point_is_registered() -> None:
    assert available_schemes().get("gmail") == "inbox_finder.providers.gmail.provider:GmailProvider"
