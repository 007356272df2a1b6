"""The lean IMAP lookup against a real Dovecot: Subject narrowing, pipelining, round trips.

The engine asks for mail whose Subject names a security token (``subject_search_words``); the
provider ORs those words as SUBJECT keys (``CHARSET UTF-8``) into its SORT. The tests prove on
Dovecot that every template's subject passes that search, that a 5,000-message mailbox with
1,499 newer salesforce.com notifications costs at most 4 round trips after LOGIN, and that the
message read ahead with the first header batch is the newest by INTERNALDATE.
"""

from __future__ import annotations

import email.charset
import email.header
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from emulators.fault_proxy import FaultProxy, TlsTermination
from inbox_finder.providers.imap.provider import ImapProvider
from inbox_finder.providers.imap.search import SPECULATE_BYTES

from inbox_finder import find_token
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.mail.extract import subject_mentions_token
from inbox_finder.mail.templates import TEMPLATES, subject_search_words
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing.dovecot import DovecotServer
from inbox_finder.testing.mail import new_token, token_mail

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NARROWED = Query(subject_words=subject_search_words())
# Real subjects of the table's languages (tests/test_template_table.py has their bodies).
SAMPLE_SUBJECTS = (
    "Your new Salesforce security token",
    "Sandbox: Your new Salesforce security token",
    "[EXTERNAL] Your new Salesforce security token",
    "salesforce.com security token confirmation",
    "新しいセキュリティトークン",
    "Ihr neues Salesforce-Sicherheitstoken",
    "Ihr neues Salesforce Sicherheits-Token",
    "Votre nouveau jeton de sécurité",
    "Su nuevo token de seguridad",
    "Seu novo token de segurança",
    "Ваш новый маркер безопасности",
    "Uusi suojaustunnuksesi",
    "Uusi suojaus-tunnus",
    "YOUR NEW SALESFORCE SECURITY TOKEN",
    "Your new Salesforce ｓｅｃｕｒｉｔｙ ｔｏｋｅｎ",  # full-width: NFKC makes it ASCII
    "新しいｾｷｭﾘﾃｨﾄｰｸﾝ",  # half-width katakana
)
NOT_TOKEN_SUBJECTS = (
    "Weekly Export Service: your export is ready",
    "[Salesforce] Case 00012345 has been assigned to you",
    "Report results: Pipeline by stage",
    "Verify your identity in Salesforce",
)


def _mail(sender: str, subject: str, when: datetime, n: int, body: str = "Hello.") -> bytes:
    """A plain message; ``subject`` goes in as written (already RFC 2047 encoded or ASCII)."""
    return (
        f"From: Salesforce <{sender}>\r\nTo: dana@example.com\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(when)}\r\nMessage-ID: <n{n}@salesforce.com>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _subjects() -> Iterator[str]:
    """Every table keyword in a subject, as written and in other cases, plus the samples."""
    yield from SAMPLE_SUBJECTS
    for template in TEMPLATES:
        for keyword in template.subject_keywords:
            yield f"Salesforce: {keyword}"
            yield f"SALESFORCE: {keyword.upper()}"
            yield f"Sandbox: {keyword.title()} 12"


def _encoded(subject: str, n: int) -> str:
    """RFC 2047 encoded words for non-ASCII subjects, B and Q in turn, as mail clients send."""
    if subject.isascii():
        return subject
    charset = email.charset.Charset("utf-8")
    charset.header_encoding = email.charset.BASE64 if n % 2 else email.charset.QP
    return email.header.Header(subject, charset).encode()


@pytest.fixture
def user(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> str:
    name, password = dovecot.new_user("lean")
    monkeypatch.setenv(PASSWORD_ENV, password)
    return name


def _proxy(dovecot: DovecotServer, hidden: tuple[str, ...] = ()) -> FaultProxy:
    """A TLS-terminating proxy in front of Dovecot that counts what the client sends."""
    return FaultProxy(
        (dovecot.host, dovecot.imaps_port),
        tls=TlsTermination.from_dir(dovecot.base),
        hide_capabilities=hidden,
    )


def _provider(dovecot: DovecotServer, url: str) -> ImapProvider:
    p = open_provider(url, SourceOptions(ca_file=dovecot.ca_file))
    assert isinstance(p, ImapProvider)
    return p


def test_every_template_subject_passes_the_narrowed_search(
    dovecot: DovecotServer, user: str
) -> None:
    subjects = list(dict.fromkeys(_subjects()))
    assert all(subject_mentions_token(s) for s in subjects)  # the engine's own screen
    mails = [
        (_mail("support@salesforce.com", _encoded(s, i), T0 + timedelta(minutes=i), i), s)
        for i, s in enumerate([*subjects, *NOT_TOKEN_SUBJECTS])
    ]
    uids = dovecot.append_many(
        user, [(raw, T0 + timedelta(minutes=i)) for i, (raw, _) in enumerate(mails)]
    )
    by_uid = {uid: subject for uid, (_, subject) in zip(uids, mails, strict=True)}
    with _provider(dovecot, dovecot.url(user)) as p:
        found = {int(c.ref) for c in p.search(NARROWED)}
        everything = {int(c.ref) for c in p.search(Query())}
    missed = [by_uid[uid] for uid in everything - found if by_uid[uid] in subjects]
    assert not missed
    assert {by_uid[uid] for uid in everything - found} == set(NOT_TOKEN_SUBJECTS)


def _busy_mailbox(dovecot: DovecotServer, user: str, token: str) -> bytes:
    """5,000 messages: 3,499 older unrelated ones, the token mail, 1,499 newer notifications."""
    older = (
        (
            _mail("news@example.org", f"Weekly digest #{i}", T0 - timedelta(hours=i), i),
            T0 - timedelta(hours=i),
        )
        for i in range(3_499, 0, -1)
    )
    the_one = token_mail(token, when=T0).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    kinds = (
        "Report results: Pipeline by stage {n}",
        "[Salesforce] Case 0{n:07d} has been assigned to you",
    )
    newer = (
        (
            _mail(
                "noreply@salesforce.com",
                kinds[n % 2].format(n=n),
                T0 + timedelta(minutes=n),
                10_000 + n,
            ),
            T0 + timedelta(minutes=n),
        )
        for n in range(1, 1_500)
    )
    dovecot.bulk_load(user, [*older, (the_one, T0), *newer])
    return the_one


def test_busy_mailbox_costs_four_round_trips_after_login(dovecot: DovecotServer, user: str) -> None:
    token = new_token()
    the_one = _busy_mailbox(dovecot, user, token)
    with dovecot.client(user) as c:  # what an exact client must read at least
        c.select_folder("INBOX", readonly=True)
        hits = c.search(["FROM", "salesforce.com"])
    assert len(hits) == 1_500
    search_answer = len(b"* SEARCH " + b" ".join(b"%d" % u for u in hits) + b"\r\n")
    with _proxy(dovecot) as proxy, _provider(dovecot, proxy.url(user)) as p:
        assert find_token(p).token == token
    commands = dict(proxy.commands)
    print(
        f"\nbusy mailbox: {proxy.round_trips} round trips, {proxy.bytes_down} bytes down, {commands}"
    )
    assert "CAPABILITY" not in commands  # the greeting and LOGIN answer carry it
    assert proxy.round_trips - 1 <= 4, commands  # LOGIN, then LIST, EXAMINE+SORT, FETCHes, LOGOUT
    assert proxy.bytes_down <= 2 * (search_answer + len(the_one)), proxy.bytes_down


def test_message_read_ahead_is_the_newest_by_internaldate(
    dovecot: DovecotServer, user: str
) -> None:
    newest, older = new_token(), new_token()
    # The older token mail was moved in last: it has the highest UID, an older INTERNALDATE.
    dovecot.append_many(
        user,
        [
            (token_mail(newest, when=T0), T0),
            (
                _mail("noreply@salesforce.com", "Report results", T0 + timedelta(hours=1), 1),
                T0 + timedelta(hours=1),
            ),
            (token_mail(older, when=T0 - timedelta(days=3)), T0 - timedelta(days=3)),
        ],
    )
    with _proxy(dovecot) as proxy, _provider(dovecot, proxy.url(user)) as p:
        found = find_token(p)
    assert found.token == newest
    assert proxy.count(r"^UID FETCH .*BODY\.PEEK\[\]") == 1  # read ahead, not fetched again


def test_a_big_newest_message_is_fetched_whole(dovecot: DovecotServer, user: str) -> None:
    token = new_token()
    big = token_mail(token, when=T0).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    big += b"x" * 76 + b"\r\n"
    big += (b"padding line of a large message, well past the read-ahead\r\n") * (
        SPECULATE_BYTES // 40
    )
    dovecot.append(user, big, T0)
    with _provider(dovecot, dovecot.url(user)) as p:
        (candidate,) = p.search(NARROWED)
        assert p.fetch(candidate) == big
        assert find_token(p).token == token


def test_narrowed_search_without_literal_plus(dovecot: DovecotServer, user: str) -> None:
    token = new_token()
    dovecot.append_many(
        user,
        [
            (_mail("support@salesforce.com", _encoded("新しいセキュリティトークン", 1), T0, 1), T0),
            (token_mail(token, when=T0 - timedelta(days=1)), T0 - timedelta(days=1)),
        ],
    )
    with _proxy(dovecot, ("LITERAL+",)) as proxy, _provider(dovecot, proxy.url(user)) as p:
        assert len(list(p.search(NARROWED))) == 2
        assert find_token(p).token == token


def test_a_run_of_rejected_notifications_is_read_in_batches(
    dovecot: DovecotServer, user: str
) -> None:
    token = new_token()
    # Trusted salesforce.com mail whose subject names a token but whose body holds none.
    refresh = "Connected App refresh token policy changed for {n}"
    newer = [
        (
            _mail("noreply@salesforce.com", refresh.format(n=n), T0 + timedelta(minutes=n), n),
            T0 + timedelta(minutes=n),
        )
        for n in range(1, 23)
    ]
    dovecot.bulk_load(user, [(crlf_mail(token_mail(token, when=T0)), T0), *newer])
    with _proxy(dovecot) as proxy, _provider(dovecot, proxy.url(user)) as p:
        assert find_token(p).token == token
    # The newest with the headers, the next alone, then batches of 8 and 16: 4, not 23.
    assert proxy.count(r"^UID FETCH .*BODY\.PEEK\[\]") == 4
    (session,) = dovecot.wait_logouts(user, 1)
    assert session["body_count"] <= 23 + 1  # each message read whole at most once (+ spare)


def crlf_mail(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_searchres_and_one_sort_find_the_same(dovecot: DovecotServer, user: str) -> None:
    """With SEARCHRES the Subject keys test the sender search's saved result (UID $); without
    it one SORT carries every key. Both give the same candidates in the same order."""
    subjects = [*SAMPLE_SUBJECTS, *NOT_TOKEN_SUBJECTS]
    senders = ("support@salesforce.com", "news@example.org")
    dovecot.bulk_load(
        user,
        [
            (
                _mail(senders[i % 2], _encoded(s, i), T0 + timedelta(minutes=i), i),
                T0 + timedelta(minutes=i % 7),  # ties in INTERNALDATE: highest UID first
            )
            for i, s in enumerate(subjects * 3)
        ],
    )
    got = {}
    for hidden in ((), ("SEARCHRES",)):
        with _proxy(dovecot, hidden) as proxy, _provider(dovecot, proxy.url(user)) as p:
            got[hidden] = [(c.ref, c.received) for c in p.search(NARROWED)]
        assert proxy.count(r"^UID SEARCH RETURN \(SAVE\)") == (0 if hidden else 1)
    assert got[()] == got[("SEARCHRES",)]
    assert 0 < len(got[()]) < len(subjects) * 3
