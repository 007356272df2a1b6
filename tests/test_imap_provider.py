"""The IMAP provider against a real Dovecot (inbox_finder.testing.dovecot): TLS, STARTTLS, read-only, search."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from corpus_util import GoldenCorpus, load_expected, positives
from imapclient.exceptions import LoginError
from inbox_finder.providers.imap.provider import (
    ImapProvider,
    gmail_raw_query,
    parse_imap_url,
    search_criteria,
)
from inbox_finder.providers.imap.search import HEADER_BATCH
from mailboxes import DovecotFixtures

from inbox_finder import find_token
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.errors import (
    AuthError,
    ConfigError,
    FolderNotFoundError,
    InboxFinderError,
    MailboxError,
)
from inbox_finder.model import Candidate
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing import ProviderContract
from inbox_finder.testing.dovecot import DovecotServer, free_port, require_dovecot

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def mail(n: int, sender: str = "support@salesforce.com", subject: str = "Your token") -> bytes:
    return (
        f"From: Sender <{sender}>\r\nTo: dana@example.com\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <m{n}@test.example>\r\nDate: Wed, 1 May 2024 12:00:00 +0000\r\n"
        f"\r\nBODY-MARKER-{n}\r\n"
    ).encode()


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch, imap_user: tuple[str, str]) -> str:
    """A fresh user whose password the provider takes from INBOX_FINDER_PASSWORD."""
    monkeypatch.setenv(PASSWORD_ENV, imap_user[1])
    return imap_user[0]


def provider(
    server: DovecotServer,
    user: str,
    folder: str | None = None,
    *,
    tls: bool = True,
    ca: bool = True,
    **opts: Any,
) -> ImapProvider:
    options = SourceOptions(ca_file=server.ca_file if ca else None, **opts)
    p = open_provider(server.url(user, folder, tls=tls), options)
    assert isinstance(p, ImapProvider)
    return p


# ---------------------------------------------------------------- shared contract (corpus)


@pytest.fixture(scope="module")
def corpus_user(dovecot: DovecotServer) -> tuple[str, str]:
    user, password = dovecot.new_user("corpus")
    # IMAP speaks CRLF; INTERNALDATE = the receive time the corpus expects.
    dovecot.append_many(
        user,
        [
            (e.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), e.received)
            for e in load_expected()
        ],
    )
    return user, password


class TestImapContract(DovecotFixtures, ProviderContract):
    pass


class TestImapGoldenContract(GoldenCorpus, TestImapContract):
    pass


def test_cli_find_json_and_exit_codes(
    dovecot: DovecotServer, corpus_user: tuple[str, str], tmp_path: Any
) -> None:
    user, password = corpus_user
    env = {k: v for k, v in os.environ.items() if k != "INBOX_FINDER_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(tmp_path)  # no user config file can interfere

    def run(*args: str, pw: str = password) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "inbox_finder", *args],
            capture_output=True,
            text=True,
            env={**env, PASSWORD_ENV: pw},
            timeout=60,
            check=False,
        )

    url = dovecot.url(user, "INBOX")
    ok = run("find", url, "--ca-file", dovecot.ca_file, "--json")
    assert ok.returncode == 0, ok.stderr
    assert str(positives()[0].token) in ok.stdout
    bad = run("find", url, "--ca-file", dovecot.ca_file, pw="Wr0ng-Pw-xyz")
    assert (bad.returncode, bad.stdout) == (3, "")
    assert "Wr0ng-Pw-xyz" not in bad.stderr and "Traceback" not in bad.stderr
    untrusted = run("find", url)
    assert untrusted.returncode == 4
    assert f"127.0.0.1:{dovecot.imaps_port}" in untrusted.stderr
    assert len(untrusted.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- search order and narrowing


def test_newest_first_by_internaldate_not_uid(dovecot: DovecotServer, login: str) -> None:
    # (UID order) -> INTERNALDATE offsets in hours; the last two share one INTERNALDATE.
    offsets = [5, -3, 9, 0, 7, 7]
    uids = dovecot.append_many(
        login,
        [(mail(i), T0 + timedelta(hours=h)) for i, h in enumerate(offsets)]
        + [(mail(90, sender="news@example.org"), T0 + timedelta(hours=20))]
        + [(mail(91, sender="a@salesforce.com.evil.net"), T0 + timedelta(hours=1))],
    )
    with provider(dovecot, login) as p:
        got = list(p.search(Query()))
    expected = sorted(
        ((T0 + timedelta(hours=h), uids[i]) for i, h in enumerate(offsets)), reverse=True
    )
    evil = (T0 + timedelta(hours=1), uids[7])  # a superset filter: the trust step rejects it
    expected = sorted([*expected, evil], reverse=True)
    assert [(c.received, int(c.ref)) for c in got] == expected
    assert all(c.received_source == "server" and c.received.tzinfo is UTC for c in got)
    assert str(uids[6]) not in {c.ref for c in got}  # not From salesforce.com
    for c in got:
        assert c.headers is not None
        assert c.headers.startswith(b"From: ") and c.headers.endswith(b"\r\n\r\n")
        assert b"BODY-MARKER" not in c.headers


def test_since_is_exact_despite_day_granular_search(dovecot: DovecotServer, login: str) -> None:
    since = datetime(2024, 5, 2, 0, 30, tzinfo=UTC)  # just after midnight UTC
    stamps = [
        since - timedelta(hours=10),
        since - timedelta(seconds=1),
        since,
        since + timedelta(minutes=1),
        since - timedelta(days=3),
    ]
    uids = dovecot.append_many(login, [(mail(i), t) for i, t in enumerate(stamps)])
    with provider(dovecot, login) as p:
        got = [int(c.ref) for c in p.search(Query(since=since))]
    assert got == [uids[3], uids[2]]


def test_fetch_returns_the_exact_bytes(dovecot: DovecotServer, login: str) -> None:
    raw = mail(1) + b"\r\nline with trailing spaces   \r\n\tand a tab, 8bit: \xc3\xbc\r\n"
    dovecot.append(login, raw, T0)
    with provider(dovecot, login) as p:
        (cand,) = p.search(Query())
        assert p.fetch(cand) == raw
        assert p.fetch_headers(cand) == raw[: raw.index(b"\r\n\r\n") + 4]


def test_headers_are_fetched_lazily_in_small_batches(dovecot: DovecotServer, login: str) -> None:
    dovecot.bulk_load(login, [(mail(i), T0 + timedelta(minutes=i)) for i in range(60)])
    with provider(dovecot, login) as p:
        it = iter(p.search(Query()))
        first = [next(it) for _ in range(3)]
    assert [c.received for c in first] == [T0 + timedelta(minutes=m) for m in (59, 58, 57)]
    (session,) = dovecot.wait_logouts(login, 1)
    assert session["hdr_count"] == HEADER_BATCH  # one batch, not 60
    assert session["body_count"] <= 1  # the newest one's first bytes ride along (search.py)


def test_search_criteria_and_gmail_raw_query() -> None:
    since = datetime(2024, 5, 2, 0, 30, tzinfo=UTC)
    assert search_criteria(Query()) == ["FROM", "salesforce.com"]
    assert search_criteria(Query(since=since, sender_domains=("a.com", "b.org", "c.net"))) == [
        "OR",
        "FROM",
        "a.com",
        "OR",
        "FROM",
        "b.org",
        "FROM",
        "c.net",
        "SINCE",
        datetime(2024, 5, 1).date(),
    ]
    assert search_criteria(Query(sender_domains=())) == ["ALL"]
    assert gmail_raw_query(Query()) == "from:salesforce.com"
    assert gmail_raw_query(Query(since=since, sender_domains=("a.com", "b.org"))) == (
        "{from:a.com from:b.org} after:2024/05/01"
    )


# ---------------------------------------------------------------- read-only proof


def test_mailbox_is_untouched(dovecot: DovecotServer, login: str) -> None:
    flag_sets: list[tuple[str, ...]] = [
        (),
        ("\\Seen",),
        ("\\Flagged", "\\Answered"),
        ("\\Deleted",),
        ("$Label1",),
    ]
    uids = dovecot.append_many(
        login,
        [(mail(i), T0 + timedelta(hours=i), flags) for i, flags in enumerate(flag_sets)]
        + [(mail(9, sender="x@example.org"), T0, ())],
    )
    before = dovecot.snapshot(login)
    with provider(dovecot, login) as p:
        for cand in p.search(Query()):
            p.fetch(cand)
            p.fetch_headers(cand)
    after = dovecot.snapshot(login)
    assert after == before
    assert len(after) == 6
    first, second = uids[0], uids[1]
    assert first is not None and second is not None
    assert after[first] == () and after[second] == (b"\\Seen",)  # unseen stays unseen
    sessions = dovecot.wait_logouts(login, 4)  # two appends/snapshots around the provider's
    provider_session = sessions[2]
    assert provider_session["body_count"] == 5
    assert all(s["expunged"] == s["deleted"] == 0 for s in sessions)
    assert provider_session["appended"] == 0


def test_large_mailbox_fetches_only_a_handful(dovecot: DovecotServer, login: str) -> None:
    noise_senders = ["newsletter@example.org", "alerts@bank.example", "ci@github.example"]
    noise = (
        (
            mail(i, sender=noise_senders[i % 3], subject="Weekly digest"),
            datetime(2016, 1, 1, tzinfo=UTC) + timedelta(hours=i),
        )
        for i in range(10_000)
    )
    corpus = ((e.raw.replace(b"\n", b"\r\n"), e.received) for e in load_expected())
    dovecot.bulk_load(login, [*noise, *corpus])
    with provider(dovecot, login) as p:
        calls: list[str] = []
        real_fetch = p.fetch

        def spy(candidate: Candidate) -> bytes:
            calls.append(candidate.ref)
            raw: bytes = real_fetch(candidate)
            return raw

        p.fetch = spy  # type: ignore[method-assign]
        found = find_token(p)
        assert found.token == positives()[0].token
        newest_overall = len(calls)
        p.close()  # one server session per lookup, so Dovecot's counters are per lookup
        dana = find_token(p, username="dana@example.com")  # skips newer look-alikes
    assert dana.token == next(e.token for e in positives() if e.username == "dana@example.com")
    first, second = dovecot.wait_logouts(login, 2)
    print(
        f"\n10,028-message mailbox: newest overall {first['body_count']} fetched whole "
        f"({first['hdr_count']} header blocks); dana@example.com {second['body_count']} "
        f"fetched whole ({second['hdr_count']} header blocks)"
    )
    assert first["body_count"] == newest_overall <= 2
    # Bodies after the first two are read ahead in batches (bodies.py): at most twice as many.
    asked = len(calls) - newest_overall
    assert asked <= second["body_count"] <= min(2 * asked, 10)


def test_search_uses_x_gm_raw_when_gmail(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "gmail-pw")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(dovecot.base / "cert.pem", dovecot.base / "key.pem")
    with fake_server(
        lambda conn, received: fake_gmail(context.wrap_socket(conn, server_side=True), received)
    ) as (port, received):
        url = f"imaps://dana%40gmail.example@127.0.0.1:{port}/INBOX"
        with open_provider(url, SourceOptions(ca_file=dovecot.ca_file, timeout=5)) as p:
            got = list(p.search(Query(since=datetime(2024, 5, 1, 11, tzinfo=UTC))))
            assert [(c.ref, c.received) for c in got] == [
                ("9", datetime(2024, 5, 2, 10, tzinfo=UTC)),
                ("5", datetime(2024, 5, 1, 12, tzinfo=UTC)),
            ]
            assert got[0].headers == GMAIL_HEADERS[9]
            assert p.fetch(got[0]) == GMAIL_HEADERS[9] + b"body 9\r\n"
    commands = [ln.split(b" ", 1)[1].strip() for ln in received]
    assert b'UID SEARCH CHARSET UTF-8 X-GM-RAW "from:salesforce.com after:2024/04/30"' in commands
    assert any(c.startswith(b"EXAMINE") for c in commands)
    assert not any(
        c.split(b" ")[0] in (b"SELECT", b"STORE", b"UID") and b"STORE" in c for c in commands
    )


GMAIL_HEADERS = {
    5: b"From: support@salesforce.com\r\nSubject: five\r\n\r\n",
    9: b"From: support@salesforce.com\r\nSubject: nine\r\n\r\n",
}


def fake_gmail(conn: socket.socket, received: list[bytes]) -> None:
    """Just enough of Gmail's IMAP (X-GM-EXT-1) for one search and one fetch."""
    dates = {5: "01-May-2024 12:00:00 +0000", 9: "02-May-2024 12:00:00 +0200"}
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1 X-GM-EXT-1 AUTH=PLAIN] Gimap ready\r\n")
    for line in conn.makefile("rb"):
        received.append(line)
        tag, _, rest = line.decode().strip().partition(" ")
        verb = rest.split(" ")[0].upper()
        out = b""
        if verb == "CAPABILITY":
            out = b"* CAPABILITY IMAP4rev1 X-GM-EXT-1 AUTH=PLAIN\r\n"
        elif verb == "EXAMINE":
            out = b"* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] ok\r\n"
        elif verb == "LOGOUT":
            conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
            return
        elif rest.startswith("UID SEARCH"):
            out = b"* SEARCH 5 9\r\n"
        elif rest.startswith("UID FETCH") and "BODY.PEEK[" not in rest:
            out = b"".join(
                f'* {u} FETCH (UID {u} INTERNALDATE "{d}")\r\n'.encode() for u, d in dates.items()
            )
        elif rest.startswith("UID FETCH"):
            uids = [int(u) for u in rest.split(" ")[2].split(",")]
            for uid in uids:
                if "BODY.PEEK[]" in rest:
                    key, data = "BODY[]", GMAIL_HEADERS[uid] + f"body {uid}\r\n".encode()
                else:  # the header batch also asks for INTERNALDATE
                    key, data = f'INTERNALDATE "{dates[uid]}" BODY[HEADER]', GMAIL_HEADERS[uid]
                out += f"* {uid} FETCH (UID {uid} {key} {{{len(data)}}}\r\n".encode()
                out += data + b")\r\n"
        conn.sendall(out + f"{tag} OK done\r\n".encode())


# ---------------------------------------------------------------- fixtures and helpers


def test_require_dovecot_fails_in_ci_and_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    import inbox_finder.testing.dovecot_conf as dovecot_lib  # where require_dovecot looks

    monkeypatch.setattr(dovecot_lib, "dovecot_available", lambda: None)
    for value in ("true", "1"):  # any value of CI, like the .msg writer check
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="CI must run the IMAP tests"):
            require_dovecot()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_dovecot()


def test_reset_empties_a_mailbox(
    dovecot: DovecotServer, imap_user: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    assert request.node.get_closest_marker("imap") is not None  # added by conftest.py
    user = imap_user[0]
    dovecot.append_many(user, [(mail(1), T0), (mail(2), T0)])
    dovecot.append_many(user, [(mail(3), T0)], folder="Archiv Ü/Sales")
    dovecot.reset(user)
    assert dovecot.snapshot(user) == {}
    with dovecot.client(user) as c:
        assert [name for _f, _s, name in c.list_folders()] == ["INBOX"]


# ---------------------------------------------------------------- folders


def test_missing_folder(dovecot: DovecotServer, login: str) -> None:
    with (
        provider(dovecot, login, "No Such Folder") as p,
        pytest.raises(FolderNotFoundError, match="No Such Folder"),
    ):
        list(p.search(Query()))


@pytest.mark.parametrize("spelling", ["encoded", "raw"])
def test_non_ascii_folder_with_spaces(dovecot: DovecotServer, login: str, spelling: str) -> None:
    folder = "Archiv Ü/Sales"
    dovecot.append_many(login, [(mail(1), T0)], folder=folder)
    url = dovecot.url(login, folder)  # percent-encoded
    if spelling == "raw":
        url = url.split("/Archiv")[0] + "/" + folder
    with open_provider(url, SourceOptions(ca_file=dovecot.ca_file)) as p:
        assert isinstance(p, ImapProvider) and p.url.folder == folder
        (cand,) = p.search(Query())
        assert p.fetch(cand) == mail(1)
        assert p.source.endswith("/Archiv%20%C3%9C/Sales")


def test_uidvalidity_change_between_search_and_fetch(dovecot: DovecotServer, login: str) -> None:
    dovecot.append_many(login, [(mail(1), T0)], folder="Rebuilt")
    p = provider(dovecot, login, "Rebuilt")
    (cand,) = p.search(Query())
    p.close()
    dovecot.delete_folder(login, "Rebuilt")
    dovecot.append_many(login, [(mail(2), T0)], folder="Rebuilt")  # same UID 1, new mailbox
    with pytest.raises(MailboxError, match="UIDVALIDITY"):
        p.fetch(cand)
    p.close()


# ---------------------------------------------------------------- TLS, STARTTLS, failures


def test_starttls_on_the_plain_port(dovecot: DovecotServer, login: str) -> None:
    dovecot.append(login, mail(1), T0)
    with provider(dovecot, login, tls=False) as p:
        assert p.source.startswith("imap://")
        (cand,) = p.search(Query())
        assert p.fetch(cand) == mail(1)
    logins = [ln for ln in dovecot.log_text().splitlines() if f"user=<{login}>" in ln]
    assert logins and all(", TLS," in ln for ln in logins if "Login:" in ln)


def test_wrong_password(
    dovecot: DovecotServer, imap_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-Password-42")
    with provider(dovecot, imap_user[0]) as p, pytest.raises(AuthError) as info:
        list(p.search(Query()))
    assert info.value.exit_code == 3
    assert f"127.0.0.1:{dovecot.imaps_port}" in str(info.value)
    assert "not-the-Password-42" not in str(info.value)
    assert isinstance(info.value.__cause__, LoginError)


def test_untrusted_certificate(dovecot: DovecotServer, login: str) -> None:
    with provider(dovecot, login, ca=False) as p, pytest.raises(MailboxError) as info:
        list(p.search(Query()))
    assert info.value.exit_code == 4
    assert f"127.0.0.1:{dovecot.imaps_port}" in str(info.value)
    assert "certificate" in str(info.value)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


def test_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "x")
    port = free_port()
    with (
        open_provider(f"imaps://dana@127.0.0.1:{port}", SourceOptions(timeout=5)) as p,
        pytest.raises(MailboxError, match=f"127.0.0.1:{port}") as info,
    ):
        list(p.search(Query()))
    assert "refused" in str(info.value)
    assert "\n" not in str(info.value)


@contextlib.contextmanager
def fake_server(
    handler: Callable[[socket.socket, list[bytes]], None],
) -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection loopback server running ``handler``; yields (port, received lines)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # closing a socket does not wake a blocked accept(): poll
    received: list[bytes] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            with conn, contextlib.suppress(OSError):
                handler(conn, received)
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()


def no_starttls(conn: socket.socket, received: list[bytes]) -> None:
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n")
    reader = conn.makefile("rb")
    for line in reader:
        received.append(line)
        tag, _, rest = line.decode().partition(" ")
        if rest.upper().startswith("CAPABILITY"):
            conn.sendall(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode())
        elif rest.upper().startswith("LOGOUT"):
            conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
            return
        else:
            conn.sendall(f"{tag} OK whatever\r\n".encode())


def test_server_without_starttls_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "must-not-be-sent")
    with (
        fake_server(no_starttls) as (port, received),
        open_provider(f"imap://dana@127.0.0.1:{port}", SourceOptions(timeout=5)) as p,
        pytest.raises(MailboxError, match="STARTTLS") as info,
    ):
        list(p.search(Query()))
    assert f"127.0.0.1:{port}" in str(info.value)
    assert not any(b"LOGIN" in ln or b"AUTHENTICATE" in ln for ln in received)
    assert not any(b"must-not-be-sent" in ln for ln in received)


def test_missing_password_fails_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "keyring", None)  # never the developer's real keyring
    accepted = threading.Event()
    with (
        fake_server(lambda conn, _: accepted.set()) as (port, _),
        open_provider(f"imaps://dana@127.0.0.1:{port}") as p,
        pytest.raises(AuthError, match="INBOX_FINDER_PASSWORD"),
    ):
        list(p.search(Query()))
    assert not accepted.is_set()


def test_silent_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "x")
    gate = threading.Event()

    def silent(conn: socket.socket, received: list[bytes]) -> None:
        gate.wait(5)  # accept, then never send the greeting

    with fake_server(silent) as (port, _):
        with (
            open_provider(f"imaps://dana@127.0.0.1:{port}", SourceOptions(timeout=0.5)) as p,
            pytest.raises(MailboxError, match=f"127.0.0.1:{port} timed out"),
        ):
            list(p.search(Query()))
        gate.set()


@pytest.mark.parametrize(
    ("raised", "expected", "text"),
    [
        (LoginError("b'[AUTHENTICATIONFAILED] no'"), AuthError, "rejected the login"),
        (ssl.SSLCertVerificationError(1, "bad"), MailboxError, "did not verify"),
        (ssl.SSLError(1, "handshake"), MailboxError, "TLS with"),
        (socket.gaierror(-2, "Name or service not known"), MailboxError, "cannot resolve"),
        (TimeoutError(), MailboxError, "timed out"),
        (ConnectionRefusedError(), MailboxError, "refused"),
        (ConnectionResetError(104, "reset"), MailboxError, "failed while"),
        (imaplib.IMAP4.abort("socket error: EOF"), MailboxError, "dropped the connection"),
        (imaplib.IMAP4.error("BAD [PARSE] nope"), MailboxError, "refused testing"),
        (ValueError("parser choked"), MailboxError, "unexpected ValueError"),
        (FolderNotFoundError("kept"), FolderNotFoundError, "kept"),
        (ConfigError("kept"), ConfigError, "kept"),
    ],
)
def test_error_mapping_is_complete(
    raised: Exception, expected: type[InboxFinderError], text: str
) -> None:
    p = ImapProvider(parse_imap_url("imaps://dana@mail.example:993"))
    with pytest.raises(expected, match=text) as info, p._errors("testing"):
        raise raised
    assert type(info.value) is expected
    assert "mail.example:993" in str(info.value) or expected in (FolderNotFoundError, ConfigError)


# ---------------------------------------------------------------- secrets and logging


@pytest.mark.parametrize("password", ['p"a\\ss w0rd{1}', "pässwörd-ÿ"])
def test_debug_logs_carry_no_password_and_no_body(
    dovecot: DovecotServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    password: str,
) -> None:
    user, _ = dovecot.new_user(password=password)
    dovecot.append(user, mail(7), T0)
    monkeypatch.setenv(PASSWORD_ENV, password)
    caplog.set_level(logging.DEBUG)
    with provider(dovecot, user) as p:
        (cand,) = p.search(Query())
        assert b"BODY-MARKER-7" in p.fetch(cand)
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "LOGIN" in text or "AUTHENTICATE" in text  # the wire log was captured...
    assert any(r.name.startswith("inbox_finder.providers.imap") for r in caplog.records)
    wire = [r.getMessage() for r in caplog.records if r.name.endswith(".imap.wire")]
    # What imaplib sent (its debug hook), not the provider's own "UID FETCH" debug line.
    assert any(line.startswith(">") and "BODY.PEEK[]" in line for line in wire), wire
    for secret in (password, password.replace("\\", "\\\\"), repr(password.encode())[2:-1]):
        assert secret not in text  # ...but never the password, raw, quoted or escaped
    assert "BODY-MARKER-7" not in text


def test_xoauth2_login(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Dovecot 2.3 checks an XOAUTH2 token like a password against the passdb.
    user, token = dovecot.new_user(password="ya29.a0-test-access-token")
    dovecot.append(user, mail(3), T0)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setenv("TEST_IMAP_TOKEN", token)
    caplog.set_level(logging.DEBUG)
    profile = {"auth": "xoauth2", "oauth_token_env": "TEST_IMAP_TOKEN"}
    with provider(dovecot, user, profile=profile) as p:
        assert len(list(p.search(Query()))) == 1
    assert any(f"user=<{user}>, method=XOAUTH2" in ln for ln in dovecot.log_text().splitlines())
    assert token not in caplog.text


# ---------------------------------------------------------------- URL parsing


@pytest.mark.parametrize(
    ("url", "user", "host", "port", "folder", "tls"),
    [
        # No folder in the URL: the whole mailbox.
        ("imaps://dana@imap.example.com", "dana", "imap.example.com", 993, None, True),
        ("imap://dana@imap.example.com", "dana", "imap.example.com", 143, None, False),
        ("IMAPS://dana@Mail.Example:1993/", "dana", "mail.example", 1993, None, True),
        (
            "imaps://dana%40example.com@h/Archiv%20%C3%9C%2FSales",
            "dana@example.com",
            "h",
            993,
            "Archiv Ü/Sales",
            True,
        ),
        ("imaps://dana@example.com@h/Sent Items", "dana@example.com", "h", 993, "Sent Items", True),
        ("imaps://d@[::1]:10993/a/b/", "d", "::1", 10993, "a/b", True),
    ],
)
def test_url_parsing(
    url: str, user: str, host: str, port: int, folder: str | None, tls: bool
) -> None:
    parsed = parse_imap_url(url)
    assert (parsed.user, parsed.host, parsed.port, parsed.folder, parsed.implicit_tls) == (
        user,
        host,
        port,
        folder,
        tls,
    )
    assert parse_imap_url(parsed.display()) == parsed


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("imaps://dana:hunter2@h", "INBOX_FINDER_PASSWORD"),
        ("imaps://h", "needs a user"),
        ("imaps://@h", "needs a user"),
        ("imaps://dana@:993", "needs a host"),
        ("imaps://dana@h:99999", "malformed"),
        ("imaps://dana@h:abc", "malformed"),
        ("imaps://dana@h/INBOX?x=1", "query"),
        ("imaps://dana@h/INBOX#x", "query"),
        ("imaps:dana@h", "imaps://USER@HOST"),
        ("imaps://dana@h/%FF", "not UTF-8"),
    ],
)
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        open_provider(url)
    assert "hunter2" not in str(info.value)


def test_options(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="CA file not found"):
        open_provider("imaps://d@h", SourceOptions(ca_file=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigError, match="connect_timeout"):
        open_provider("imaps://d@h", SourceOptions(profile={"connect_timeout": 0}))
    with pytest.raises(ConfigError, match="auth"):
        open_provider("imaps://d@h", SourceOptions(profile={"auth": "kerberos"}))
    p = open_provider("imaps://d@h", SourceOptions(timeout=7, profile={"connect_timeout": 2}))
    assert isinstance(p, ImapProvider)
    assert (p._timeout.connect, p._timeout.read) == (2.0, 7.0)
