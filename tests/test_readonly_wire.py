"""Read-only, proved on the wire: every command the IMAP provider sends passes through a
TLS-terminating proxy in front of the real Dovecot, which records it.

A lookup, a lookup per username, a scan and the CLI may only EXAMINE (never SELECT), fetch
with ``BODY.PEEK[...]`` (never ``BODY[...]``, which sets \\Seen), and never STORE, COPY, MOVE,
EXPUNGE, APPEND or change folders. The flags of every message are the same afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from emulators.fault_proxy import FaultProxy, TlsTermination

from inbox_finder import find_token, find_tokens
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.scan.runner import scan
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing.cases import T0
from inbox_finder.testing.dovecot import DovecotServer
from inbox_finder.testing.mail import new_token, other_mail, token_mail, verification_mail

# Commands that change a mailbox or its messages (or open it read-write).
WRITES = re.compile(
    r"^(?:UID )?(?:SELECT|STORE|COPY|MOVE|EXPUNGE|APPEND|CREATE|DELETE|RENAME|"
    r"SUBSCRIBE|UNSUBSCRIBE|SETACL|DELETEACL|SETMETADATA|SETQUOTA)\b",
    re.IGNORECASE,
)
# A fetch item that is not a PEEK: BODY[...] (and the legacy RFC822 forms) set \Seen.
SETS_SEEN = re.compile(r"(?<!\.)\bBODY\[|\bRFC822(?:\.TEXT)?\b(?!\.)", re.IGNORECASE)
FLAGS = [(), ("\\Seen",), ("\\Flagged", "\\Answered"), ("$Label1",), ()]


@pytest.fixture
def proxy(dovecot: DovecotServer) -> Iterator[FaultProxy]:
    tls = TlsTermination.from_dir(dovecot.base)
    with FaultProxy((dovecot.host, dovecot.imaps_port), tls=tls) as p:
        yield p


@pytest.fixture
def user(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> str:
    name, password = dovecot.new_user("ro")
    monkeypatch.setenv(PASSWORD_ENV, password)
    mails = [
        token_mail(new_token(), "dana@example.com", T0),
        other_mail(1, when=T0),
        verification_mail(when=T0),
        token_mail(new_token(), "ops@example.com", T0),
        token_mail(new_token(), "dana@example.com", T0),
    ]
    dovecot.append_many(
        name,
        [
            (raw.replace(b"\n", b"\r\n"), T0 + timedelta(hours=i), flags)
            for i, (raw, flags) in enumerate(zip(mails, FLAGS, strict=True))
        ],
    )
    return name


def commands(proxy: FaultProxy) -> list[str]:
    return [line for conn in proxy.connections for line in conn.commands]


def assert_read_only(proxy: FaultProxy) -> None:
    sent = commands(proxy)
    assert any(c.upper().startswith("EXAMINE ") for c in sent), sent  # the wire was seen
    assert any("BODY.PEEK[" in c.upper() for c in sent), sent
    writes = [c for c in sent if WRITES.search(c)]
    assert writes == [], writes
    seen = [c for c in sent if re.match(r"^(?:UID )?FETCH\b", c, re.I) and SETS_SEEN.search(c)]
    assert seen == [], seen


def test_lookups_search_and_fetch_are_read_only_on_the_wire(
    dovecot: DovecotServer, proxy: FaultProxy, user: str
) -> None:
    before = dovecot.snapshot(user)
    options = SourceOptions(ca_file=dovecot.ca_file)
    with open_provider(proxy.url(user), options) as p:
        assert find_token(p).username == "dana@example.com"
        assert {f.username for f in find_tokens(p)} == {"dana@example.com", "ops@example.com"}
        for candidate in p.search(Query()):
            p.fetch_headers(candidate)
            p.fetch(candidate)
    assert_read_only(proxy)
    after = dovecot.snapshot(user)
    assert after == before
    assert after[min(after)] == ()  # unseen stays unseen


def test_scan_and_cli_find_are_read_only_on_the_wire(
    dovecot: DovecotServer,
    proxy: FaultProxy,
    user: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = dovecot.snapshot(user)
    options = SourceOptions(ca_file=dovecot.ca_file)
    state = tmp_path / "state.json"
    for _ in range(2):  # a first scan, then an idle one
        with open_provider(proxy.url(user), options) as p:
            scan(p, state)
    url = proxy.url(user)
    assert main(["find", url, "--ca-file", dovecot.ca_file, "--json"]) == 0
    assert main(["find", url, "--ca-file", dovecot.ca_file, "-u", "ops@example.com"]) == 0
    capsys.readouterr()
    assert_read_only(proxy)
    assert len(proxy.connections) >= 4
    assert dovecot.snapshot(user) == before


def test_the_checks_catch_a_write() -> None:
    """The patterns themselves: what a careless client would send is caught."""
    for bad in (
        "SELECT INBOX",
        "UID STORE 3 +FLAGS (\\Seen)",
        "UID COPY 1:2 Archive",
        "UID MOVE 4 Trash",
        "EXPUNGE",
        "UID EXPUNGE 4",
        "APPEND INBOX {310}",
    ):
        assert WRITES.search(bad), bad
    for bad in (
        "UID FETCH 3 (BODY[])",
        "UID FETCH 1:2 (INTERNALDATE BODY[HEADER])",
        "FETCH 1 RFC822",
    ):
        assert SETS_SEEN.search(bad), bad
    for good in (
        "UID FETCH 3 (BODY.PEEK[])",
        "UID FETCH 1:25 (INTERNALDATE BODY.PEEK[HEADER])",
        "UID FETCH 1,2 (INTERNALDATE)",
        "FETCH 1 RFC822.SIZE",
    ):
        assert not SETS_SEEN.search(good), good
    assert not WRITES.search("EXAMINE INBOX")
