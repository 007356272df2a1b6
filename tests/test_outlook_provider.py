"""Outlook provider: real MSAL + requests over real HTTP(S) against the identity and Graph emulators."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import requests
from corpus_util import CORPUS, GoldenCorpus, positives
from emulators.ms_emulators import (
    IdentityEmulator,
    LoopbackCA,
    make_client_certificate,
    make_test_ca,
)
from emulators.ms_graph_emulator import GraphEmulator, parse_filter
from inbox_finder.providers.outlook.auth import run_device_code_login
from inbox_finder.providers.outlook.provider import DEFAULT_RETRY, OutlookProvider
from mailboxes import GraphFixtures

from inbox_finder import find_token
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import available_schemes
from inbox_finder.errors import AuthError, ConfigError, FolderNotFoundError, MailboxError
from inbox_finder.testing import ProviderContract

UPN = "dana@example.com"
APP_ID = "11111111-2222-3333-4444-555555555555"
PUBLIC_ID = "66666666-7777-8888-9999-000000000000"
SECRET = "s3cr3t~Value.That-Must_Never.Leak"
TOKEN = "AbCdEfGhIjKlMnOpQrStUvWx1"
T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def mail(sender: str, subject: str, n: int, body: str = "Hello") -> bytes:
    return (
        f"From: Sender <{sender}>\r\nTo: {UPN}\r\nSubject: {subject}\r\n"
        f"Message-ID: <m{n}@test>\r\nDate: Fri, 01 Mar 2024 12:00:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def token_mail(n: int, token: str = TOKEN) -> bytes:
    body = (
        "We've sent you a new Salesforce security token.\r\n\r\n"
        f"Username: {UPN}\r\nSecurity token (case-sensitive): {token}\r\n"
    )
    return mail("support@salesforce.com", "Your new Salesforce security token", n, body)


@pytest.fixture
def idp(ca: LoopbackCA) -> Iterator[IdentityEmulator]:
    with IdentityEmulator(ca) as emu:
        emu.register_public_client(PUBLIC_ID)
        emu.register_app(APP_ID, secret=SECRET)
        yield emu


@pytest.fixture
def graph(idp: IdentityEmulator, ca: LoopbackCA) -> Iterator[GraphEmulator]:
    with GraphEmulator(idp, ca) as emu:
        emu.add_mailbox(UPN)
        yield emu


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def app_provider(
    idp: IdentityEmulator,
    graph: GraphEmulator,
    ca: LoopbackCA,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., OutlookProvider]:
    """Build an app-only provider; keyword arguments override profile keys."""
    monkeypatch.setenv("TEST_APP_SECRET", SECRET)

    def build(url: str = f"outlook://{UPN}", **keys: Any) -> OutlookProvider:
        profile = {
            "client_id": APP_ID,
            "tenant": idp.tenant_id,
            "authority": idp.authority(),
            "graph_endpoint": graph.endpoint,
            "client_secret_env": "TEST_APP_SECRET",
            **keys,
        }
        provider = OutlookProvider.from_url(
            url, SourceOptions(ca_file=str(ca.ca_file), timeout=5, profile=profile)
        )
        # Sleeps are recorded, not slept; the policy's clock advances by them; no jitter.
        provider.retry = dataclasses.replace(
            DEFAULT_RETRY, sleep=sleeps.append, clock=lambda: sum(sleeps), random=lambda: 1.0
        )
        return provider

    return build


def login(idp: IdentityEmulator, ca: LoopbackCA, cache: Path, tenant: str = "common") -> str:
    return run_device_code_login(
        PUBLIC_ID, tenant, idp.authority(tenant), cache, ca_file=str(ca.ca_file), out=io.StringIO()
    )


def delegated(
    idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA, cache: Path, **keys: Any
) -> OutlookProvider:
    profile = {
        "client_id": PUBLIC_ID,
        "authority": idp.authority("common"),
        "graph_endpoint": graph.endpoint,
        "token_cache": str(cache),
        **keys,
    }
    return OutlookProvider.from_url(
        "outlook://me", SourceOptions(ca_file=str(ca.ca_file), profile=profile)
    )


def grants(idp: IdentityEmulator) -> list[str]:
    return [r.form.get("grant_type", r.path) for r in idp.requests if r.method == "POST"]


# ---------------------------------------------------------------- delegated (device code)


def test_device_code_login_end_to_end(
    idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA, tmp_path: Path
) -> None:
    cache = tmp_path / "sub" / "msal_cache.json"
    out = io.StringIO()
    user = run_device_code_login(
        PUBLIC_ID, "common", idp.authority("common"), cache, ca_file=str(ca.ca_file), out=out
    )
    assert user == UPN
    assert "enter the code" in out.getvalue()  # MSAL's message reaches the user verbatim
    device = "urn:ietf:params:oauth:grant-type:device_code"
    assert grants(idp) == ["/common/oauth2/v2.0/devicecode", device, device, device]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    before = cache.stat()

    idp.requests.clear()
    graph.add_message(UPN, token_mail(1), T0)
    with delegated(idp, graph, ca, cache) as provider:
        assert provider.source == "outlook://me"
        assert len(list(provider.search(Query()))) == 1
    assert grants(idp) == []  # served from the cache: no device flow, not even a refresh
    assert graph.requests[0].path == "/v1.0/me/messages"  # the whole mailbox
    after = cache.stat()  # unchanged cache is not rewritten
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_expired_access_token_is_refreshed_and_cache_rewritten(
    idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA, tmp_path: Path
) -> None:
    idp.token_lifetime = 120  # MSAL treats tokens within 5 minutes of expiry as expired
    cache = tmp_path / "cache.json"
    login(idp, ca, cache)
    old = cache.read_text()
    idp.requests.clear()
    with delegated(idp, graph, ca, cache) as provider:
        assert list(provider.search(Query())) == []
    assert grants(idp) == ["refresh_token"]
    assert cache.read_text() != old and stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_no_cached_account_names_the_login_command(
    idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA, tmp_path: Path
) -> None:
    with pytest.raises(AuthError) as err, delegated(idp, graph, ca, tmp_path / "none.json") as p:
        list(p.search(Query()))
    assert f"inbox-finder login outlook --client-id {PUBLIC_ID}" in str(err.value)
    assert "--tenant" not in str(err.value)
    profile = {
        "client_id": PUBLIC_ID,
        "tenant": "example.com",
        "graph_endpoint": graph.endpoint,
        "authority": idp.authority("example.com"),
        "token_cache": str(tmp_path / "x"),
    }
    with pytest.raises(AuthError, match=r"--tenant example\.com"):
        list(
            OutlookProvider.from_url(
                "outlook://me", SourceOptions(ca_file=str(ca.ca_file), profile=profile)
            ).search(Query())
        )
    assert graph.requests == []


def test_failed_refresh_is_auth_error(
    idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA, tmp_path: Path
) -> None:
    idp.token_lifetime = 120
    login(idp, ca, tmp_path / "c.json")
    idp.revoke_refresh_tokens()
    with pytest.raises(AuthError, match=r"invalid_grant.*inbox-finder login outlook"):
        list(delegated(idp, graph, ca, tmp_path / "c.json").search(Query()))
    assert graph.requests == []


def test_several_cached_accounts_need_the_account_key(
    idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA, tmp_path: Path
) -> None:
    cache = tmp_path / "c.json"
    login(idp, ca, cache)
    idp.device_user = "ops@example.com"
    graph.add_mailbox("ops@example.com")
    graph.add_message("ops@example.com", token_mail(1), T0)
    assert login(idp, ca, cache) == "ops@example.com"
    with pytest.raises(ConfigError, match=r"dana@example\.com, ops@example\.com"):
        list(delegated(idp, graph, ca, cache).search(Query()))
    assert (
        len(list(delegated(idp, graph, ca, cache, account="OPS@example.com").search(Query()))) == 1
    )


# ---------------------------------------------------------------- app-only


def test_app_only_client_secret_reads_named_mailbox(
    app_provider: Callable[..., OutlookProvider], idp: IdentityEmulator, graph: GraphEmulator
) -> None:
    graph.add_message(UPN, token_mail(1), T0)
    with app_provider() as provider:
        assert provider.source == f"outlook://{UPN}"
        [cand] = list(provider.search(Query()))
        assert provider.fetch(cand) == token_mail(1)
    assert grants(idp) == ["client_credentials"]
    assert [r.path for r in graph.requests] == [
        f"/v1.0/users/{UPN}/messages",
        f"/v1.0/users/{UPN}/messages/{cand.ref}/$value",
    ]


@pytest.mark.parametrize("with_thumbprint", [False, True])
def test_app_only_certificate(
    app_provider: Callable[..., OutlookProvider],
    idp: IdentityEmulator,
    graph: GraphEmulator,
    tmp_path: Path,
    with_thumbprint: bool,
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    pem_path, cert_pem = make_client_certificate(tmp_path, "certapp")
    idp.register_app("certapp", certificate_pem=cert_pem)
    keys: dict[str, Any] = {
        "client_id": "certapp",
        "client_secret_env": None,
        "client_certificate": str(pem_path),
    }
    if with_thumbprint:  # RS256 + x5t (SHA-1), the legacy form; otherwise PS256 + x5t#S256
        cert = x509.load_pem_x509_certificate(cert_pem)
        keys["client_certificate_thumbprint"] = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303
    graph.add_message(UPN, token_mail(1), T0)
    assert len(list(app_provider(**keys).search(Query()))) == 1


def test_app_only_wrong_secret(
    app_provider: Callable[..., OutlookProvider],
    monkeypatch: pytest.MonkeyPatch,
    graph: GraphEmulator,
) -> None:
    monkeypatch.setenv("WRONG_SECRET", "not-the-secret-1234")
    with pytest.raises(AuthError, match="invalid_client") as err:
        list(app_provider(client_secret_env="WRONG_SECRET").search(Query()))
    assert "not-the-secret-1234" not in str(err.value) and graph.requests == []


def test_app_only_config_errors(
    app_provider: Callable[..., OutlookProvider], idp: IdentityEmulator
) -> None:
    with pytest.raises(ConfigError, match="tenant"):
        app_provider(tenant=None, authority=None)
    with pytest.raises(ConfigError, match="UNSET_VAR"):
        list(app_provider(client_secret_env="UNSET_VAR").search(Query()))
    unknown_tenant = app_provider(authority=idp.authority("nope.example"))
    with pytest.raises(ConfigError, match="Microsoft identity setup failed"):
        list(unknown_tenant.search(Query()))


@pytest.mark.parametrize(
    "url",
    [
        "outlook://",
        "outlook://me/inbox",
        "outlook://dana:pw@x.com",
        "outlook://not an address",
        "imaps://me",
    ],
)
def test_bad_urls(app_provider: Callable[..., OutlookProvider], url: str) -> None:
    with pytest.raises(ConfigError):
        app_provider(url)


def test_plain_http_graph_only_on_loopback(app_provider: Callable[..., OutlookProvider]) -> None:
    with pytest.raises(ConfigError, match="https"):
        app_provider(graph_endpoint="http://graph.example.com/v1.0")


# ---------------------------------------------------------------- search and fetch


def test_newest_first_since_and_sender_narrowing(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator
) -> None:
    offsets = [5, 1, 9, 3, 7, 2]
    ids = {
        graph.add_message(UPN, token_mail(i), T0 + dt.timedelta(hours=h)): h
        for i, h in enumerate(offsets)
    }
    graph.add_message(UPN, mail("boss@example.com", "hello", 99), T0 + dt.timedelta(hours=20))
    provider = app_provider()
    got = list(provider.search(Query()))
    assert [c.ref for c in got] == sorted(ids, key=ids.__getitem__, reverse=True)
    assert [c.received for c in got] == [
        T0 + dt.timedelta(hours=h) for h in sorted(offsets, reverse=True)
    ]
    assert all(c.received_source == "server" and c.received.tzinfo == dt.UTC for c in got)
    assert b"From: Sender <support@salesforce.com>" in (got[0].headers or b"")
    assert b"Message-ID: <m" in (got[0].headers or b"")

    since = list(provider.search(Query(since=T0 + dt.timedelta(hours=5))))
    assert [ids[c.ref] for c in since] == [9, 7, 5]
    assert "receivedDateTime ge 2024-03-01T17:00:00Z" in unquote_plus(graph.requests[-1].query)
    # No domain narrowing asked for: the look-alike-free mailbox returns everything.
    assert len(list(provider.search(Query(sender_domains=())))) == 7


def test_server_side_sender_filter(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator
) -> None:
    graph.add_message(UPN, token_mail(1), T0)
    graph.add_message(UPN, mail("support@emea.salesforce.com", "x", 2), T0)
    graph.add_message(UPN, mail("noreply@salesforce.com", "Verify", 3), T0)
    provider = app_provider(senders=["support@salesforce.com", "support@emea.salesforce.com"])
    assert len(list(provider.search(Query()))) == 2
    query = unquote_plus(graph.requests[-1].query)
    assert (
        "$filter=receivedDateTime ge 1900-01-01T00:00:00Z and (from/emailAddress/address eq "
        "'support@salesforce.com' or from/emailAddress/address eq "
        "'support@emea.salesforce.com')"
    ) in query


def test_emulator_enforces_graph_query_rules(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator, ca: LoopbackCA
) -> None:
    provider = app_provider(senders=["a@b.c"])
    token = provider.tokens.access_token()
    url = f"{graph.endpoint}/users/{UPN}/messages"

    def code(**params: str) -> str:
        resp = requests.get(
            url,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            verify=str(ca.ca_file),
            timeout=5,
        )
        return str(resp.json()["error"]["code"]) if resp.status_code != 200 else "ok"

    assert code(**provider.list_params(Query())) == "ok"
    assert (
        code(
            **{
                "$filter": "from/emailAddress/address eq 'x@y.z' and receivedDateTime ge "
                "2020-01-01T00:00:00Z",
                "$orderby": "receivedDateTime desc",
            }
        )
        == "InefficientFilter"
    )
    assert (
        code(**{"$filter": "endswith(from/emailAddress/address,'salesforce.com')"})
        == "ErrorInvalidUrlQueryFilter"
    )
    assert (
        code(**{"$search": '"salesforce"', "$orderby": "receivedDateTime desc"})
        == "SearchWithOrderBy"
    )
    assert code(**{"$search": '"salesforce"', "$filter": "receivedDateTime ge 2020-01-01"}) != "ok"
    props, _ = parse_filter(
        "receivedDateTime ge 2020-01-01T00:00:00Z and (from/emailAddress/"
        "address eq 'a' or from/emailAddress/address eq 'b')"
    )
    assert props == ["receiveddatetime", "from/emailaddress/address"]


def test_fetch_returns_exact_mime(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator
) -> None:
    raw = token_mail(1).replace(b"Hello", b"") + "caf\u00e9 \u30c8\u30fc\u30af\u30f3\r\n".encode()
    graph.add_message(UPN, raw, T0)
    provider = app_provider()
    assert provider.fetch(next(provider.search(Query()))) == raw


def test_paging_follows_next_link_as_given(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator
) -> None:
    for i in range(5):
        graph.add_message(UPN, token_mail(i), T0 + dt.timedelta(minutes=i))
    got = list(app_provider(page_size=2).search(Query()))
    assert len(got) == 5 and len({c.ref for c in got}) == 5
    lists = [r for r in graph.requests if r.path.endswith("/messages")]
    assert len(lists) == 3 and len(graph.next_links) == 2
    for request, link in zip(lists[1:], graph.next_links, strict=True):
        assert f"{graph.base_url}{request.path}?{request.query}" == link


def test_all_folders(app_provider: Callable[..., OutlookProvider], graph: GraphEmulator) -> None:
    graph.add_message(UPN, token_mail(1), T0, folder="archive")
    assert len(list(app_provider(folder="inbox").search(Query()))) == 0
    assert graph.requests[-1].path == f"/v1.0/users/{UPN}/mailFolders/inbox/messages"
    for keys in ({}, {"folder": "all"}):  # the whole mailbox is the default
        assert len(list(app_provider(**keys).search(Query()))) == 1
        assert graph.requests[-1].path == f"/v1.0/users/{UPN}/messages"


def test_graph_calls_for_one_lookup(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator, idp: IdentityEmulator
) -> None:
    for i in range(30):
        graph.add_message(
            UPN,
            token_mail(i, token=f"OldToken{i:02d}xxxxxxxxxxxxxxx"),
            T0 - dt.timedelta(days=i + 1),
        )
    graph.add_message(UPN, mail("boss@example.com", "lunch?", 100), T0 + dt.timedelta(hours=2))
    graph.add_message(UPN, token_mail(101), T0 + dt.timedelta(hours=1))
    found = find_token(app_provider())
    assert found.token == TOKEN
    # One list, one $value, and one $batch naming the finding's folder.
    assert [r.path.rsplit("/", 1)[-1] for r in graph.requests] == ["messages", "$value", "$batch"]
    assert found.folder == "Inbox" and found.folder_role is None
    assert [r.method for r in idp.requests] == ["GET", "POST"]  # OIDC discovery + token


# ---------------------------------------------------------------- failures


def test_429_with_retry_after_then_success(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator, sleeps: list[float]
) -> None:
    graph.add_message(UPN, token_mail(1), T0)
    graph.inject(429, times=2, retry_after="7")
    assert len(list(app_provider().search(Query()))) == 1
    assert sleeps == [7.0, 7.0]
    assert [r.status for r in graph.requests] == [429, 429, 200]


def test_persistent_503_is_mailbox_error(
    app_provider: Callable[..., OutlookProvider], graph: GraphEmulator, sleeps: list[float]
) -> None:
    graph.inject(503, times=100)  # no Retry-After: exponential backoff 1, 2, 4, 8
    with pytest.raises(MailboxError, match="HTTP 503") as err:
        list(app_provider().search(Query()))
    assert err.value.exit_code == 4
    assert sleeps == [1.0, 2.0, 4.0, 8.0] and len(graph.requests) == 5
    sleeps.clear()
    graph.requests.clear()
    graph.faults.clear()
    graph.inject(429, times=100, retry_after="25")  # total wait budget (60 s) ends it early
    with pytest.raises(MailboxError, match="HTTP 429"):
        list(app_provider().search(Query()))
    assert sleeps == [25.0, 25.0] and len(graph.requests) == 3


def _revoke(idp: IdentityEmulator, provider: OutlookProvider) -> None:
    provider.tokens.access_token()
    idp.access_tokens.clear()  # the tenant revoked it; MSAL still holds it in memory


FAILURES: list[tuple[str, dict[str, Any], Callable[..., None], type[Exception], str, int]] = [
    # (url, profile keys, setup(idp, provider), error, message, exit code); one Graph call each
    (f"outlook://{UPN}", {}, _revoke, AuthError, "InvalidAuthenticationToken", 3),
    (
        f"outlook://{UPN}",
        {},
        lambda idp, _: idp.register_app(APP_ID, secret=SECRET, roles=()),
        AuthError,
        r"Mail\.Read",
        3,
    ),
    (
        "outlook://nobody@example.com",
        {},
        lambda *_: None,
        ConfigError,
        "no such Exchange Online mailbox: outlook://nobody@example.com",
        2,
    ),
    (
        f"outlook://{UPN}",
        {"folder": "Nope"},
        lambda *_: None,
        FolderNotFoundError,
        "folder 'Nope' does not exist in outlook://.*'Inbox'",
        2,
    ),
]


@pytest.mark.parametrize(
    ("url", "keys", "setup", "error", "message", "code"),
    FAILURES,
    ids=["401", "403", "unknown-mailbox", "unknown-folder"],
)
def test_failures_map_to_errors_without_retry(
    app_provider: Callable[..., OutlookProvider],
    graph: GraphEmulator,
    idp: IdentityEmulator,
    sleeps: list[float],
    url: str,
    keys: dict[str, Any],
    setup: Callable[..., None],
    error: type[Exception],
    message: str,
    code: int,
) -> None:
    provider = app_provider(url, **keys)
    setup(idp, provider)
    with pytest.raises(error, match=message) as err:
        list(provider.search(Query()))
    assert getattr(err.value, "exit_code", None) == code
    assert len(graph.requests) == 1 and sleeps == []


def test_unreachable_and_untrusted_endpoints(
    app_provider: Callable[..., OutlookProvider],
    graph: GraphEmulator,
    idp: IdentityEmulator,
    tmp_path: Path,
) -> None:
    with pytest.raises(MailboxError, match="cannot reach Graph"):
        list(app_provider(graph_endpoint="http://127.0.0.1:9/v1.0").search(Query()))
    provider = OutlookProvider.from_url(
        f"outlook://{UPN}",
        SourceOptions(
            profile={
                "client_id": APP_ID,
                "tenant": "t",
                "authority": "https://127.0.0.1:1/t",
                "client_secret_env": "TEST_APP_SECRET",
                "graph_endpoint": graph.endpoint,
            }
        ),
    )
    with pytest.raises(MailboxError, match="identity endpoint"):
        list(provider.search(Query()))
    untrusted = OutlookProvider.from_url(
        f"outlook://{UPN}",
        SourceOptions(
            profile={
                "client_id": APP_ID,
                "client_secret_env": "TEST_APP_SECRET",
                "tenant": idp.tenant_id,
                "authority": idp.authority(),
                "graph_endpoint": graph.endpoint,
            }
        ),
    )
    with pytest.raises(MailboxError, match="TLS failure talking to the identity endpoint"):
        list(untrusted.search(Query()))  # no ca_file: the system store lacks the test CA
    with GraphEmulator(idp, make_test_ca(tmp_path / "other")) as foreign:
        foreign.add_mailbox(UPN)
        with pytest.raises(MailboxError, match="TLS failure talking to Graph"):
            list(app_provider(graph_endpoint=foreign.endpoint).search(Query()))


def test_requests_ca_bundle_env_is_honoured(
    app_provider: Callable[..., OutlookProvider],
    graph: GraphEmulator,
    idp: IdentityEmulator,
    ca: LoopbackCA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))
    graph.add_message(UPN, token_mail(1), T0)
    provider = OutlookProvider.from_url(
        f"outlook://{UPN}",
        SourceOptions(
            profile={
                "client_id": APP_ID,
                "tenant": idp.tenant_id,
                "authority": idp.authority(),
                "client_secret_env": "TEST_APP_SECRET",
                "graph_endpoint": graph.endpoint,
            }
        ),
    )
    assert len(list(provider.search(Query()))) == 1


def test_no_secret_in_logs_or_errors(
    app_provider: Callable[..., OutlookProvider],
    graph: GraphEmulator,
    idp: IdentityEmulator,
    ca: LoopbackCA,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.add_message(UPN, token_mail(1), T0)
    found = find_token(app_provider())
    login(idp, ca, tmp_path / "c.json")
    live = [app_provider(), delegated(idp, graph, ca, tmp_path / "c.json")]
    for provider in live:
        provider.tokens.access_token()  # MSAL now holds tokens the tenant is about to revoke
    idp.access_tokens.clear()
    monkeypatch.setenv("WRONG", SECRET[::-1])
    errors = []
    for provider in [*live, app_provider(client_secret_env="WRONG")]:
        with pytest.raises(AuthError) as err:
            list(provider.search(Query()))
        errors += [str(err.value), repr(err.value)]
    secrets = [SECRET, SECRET[::-1], found.token, *idp.refresh_tokens]
    secrets += [r.authorization[7:] for r in graph.requests if r.authorization]
    assert len(secrets) >= 7
    assert "DEBUG" in caplog.text and "invalid_client" in errors[-1]
    blob = caplog.text + "\n".join(errors)
    assert [s for s in secrets if s in blob] == []


def test_importing_the_provider_does_not_import_msal() -> None:
    code = (
        "import sys, inbox_finder.providers.outlook.provider, inbox_finder.providers.outlook.auth; "
        "sys.exit(1 if 'msal' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------- golden corpus + CLI


@pytest.fixture(scope="module")
def corpus_graph(ca: LoopbackCA) -> Iterator[GraphEmulator]:
    assert (CORPUS / "expected.json").exists(), "the golden corpus ships with the tests"
    with IdentityEmulator(ca) as idp, GraphEmulator(idp, ca) as graph:
        idp.register_app(APP_ID, secret=SECRET)
        graph.add_mailbox(UPN)
        graph.load_corpus(UPN, CORPUS)
        yield graph


class TestOutlookContract(GraphFixtures, ProviderContract):
    pass


class TestOutlookGoldenContract(GoldenCorpus, TestOutlookContract):
    pass


ENTRY_POINT = "inbox_finder.providers.outlook.provider:OutlookProvider"


def test_outlook_entry_point_is_registered() -> None:
    # Needs pyproject [project.entry-points."inbox_finder.providers"] outlook = ENTRY_POINT.
    assert available_schemes().get("outlook") == ENTRY_POINT


def test_cli_find_with_profile(
    corpus_graph: GraphEmulator,
    ca: LoopbackCA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from inbox_finder.cli.main import main

    idp = corpus_graph.identity
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox.work]\nurl = "outlook://{UPN}"\nclient_id = "{APP_ID}"\n'
        f'tenant = "{idp.tenant_id}"\nauthority = "{idp.authority()}"\n'
        f'graph_endpoint = "{corpus_graph.endpoint}"\nclient_secret_env = "TEST_APP_SECRET"\n'
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))
    monkeypatch.setenv("TEST_APP_SECRET", SECRET)
    assert main(["--config", str(config), "find", "work", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    newest = positives()[0]
    assert (out["token"], out["received"]) == (newest.token, newest.received.isoformat())
    monkeypatch.setenv("TEST_APP_SECRET", "wrong")
    assert main(["--config", str(config), "find", "work"]) == 3
