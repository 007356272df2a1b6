"""IMAP response codes (RFC 5530) decide what a NO means: a connection limit is no wrong password.

The table in providers/imap/codes.py is checked for completeness against the RFC, each code's
outcome is checked through the real translation (a NO to LOGIN and a NO to EXAMINE), and the
defect that motivated it is replayed against the real Dovecot: more concurrent sessions of one
user than ``mail_max_userip_connections`` (10 by default) made Dovecot answer
``NO [LIMIT] Maximum number of connections from user+IP exceeded``, which used to be reported as
a rejected login (exit 3). Now it is retried with jittered backoff, then exit 4 naming the limit.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dovecot import DovecotServer
from fault_proxy import Fault, FaultProxy, TlsTermination
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from inbox_finder.providers.imap import codes, failures
from mailgen import new_token, token_mail

from inbox_finder import find_token
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.errors import (
    AuthError,
    ExitCode,
    FolderNotFoundError,
    InboxFinderError,
    MailboxError,
    MessageVanishedError,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WHERE, USER = "imap.example.com:993", "dana"

# RFC 5530 section 3 defines exactly these codes.
RFC_5530_CODES = {
    "UNAVAILABLE",
    "AUTHENTICATIONFAILED",
    "AUTHORIZATIONFAILED",
    "EXPIRED",
    "PRIVACYREQUIRED",
    "CONTACTADMIN",
    "NOPERM",
    "INUSE",
    "EXPUNGEISSUED",
    "CORRUPTION",
    "SERVERBUG",
    "CLIENTBUG",
    "CANNOT",
    "LIMIT",
    "OVERQUOTA",
    "ALREADYEXISTS",
    "NONEXISTENT",
}

# code: (error for a NO to LOGIN, error for a NO to another command, retried, words shown)
EXPECTED: dict[str, tuple[type[InboxFinderError], type[InboxFinderError], bool, str]] = {
    "AUTHENTICATIONFAILED": (AuthError, AuthError, False, "wrong user name, password"),
    "AUTHORIZATIONFAILED": (AuthError, AuthError, False, "may not open this mailbox"),
    "EXPIRED": (AuthError, AuthError, False, "the password has expired"),
    "CONTACTADMIN": (AuthError, AuthError, False, "contact its administrator"),
    "UNAVAILABLE": (MailboxError, MailboxError, True, "temporarily unavailable"),
    "LIMIT": (MailboxError, MailboxError, True, "a server limit was reached"),
    "INUSE": (MailboxError, MailboxError, True, "in use by another session"),
    "SERVERBUG": (MailboxError, MailboxError, True, "internal error"),
    "PRIVACYREQUIRED": (MailboxError, MailboxError, False, "imaps:// or STARTTLS"),
    "NOPERM": (MailboxError, MailboxError, False, "no permission"),
    "NONEXISTENT": (MailboxError, FolderNotFoundError, False, "does not exist"),
    "EXPUNGEISSUED": (MailboxError, MessageVanishedError, False, "expunged meanwhile"),
    "CORRUPTION": (MailboxError, MailboxError, False, "corrupt mailbox"),
    "CANNOT": (MailboxError, MailboxError, False, "cannot do this"),
    "CLIENTBUG": (MailboxError, MailboxError, False, "command was wrong"),
    "OVERQUOTA": (MailboxError, MailboxError, False, "over its quota"),
    "ALREADYEXISTS": (MailboxError, MailboxError, False, "already exists"),
}


def test_the_table_covers_every_rfc_5530_code_and_nothing_else() -> None:
    assert set(codes.RFC5530) == RFC_5530_CODES
    assert set(EXPECTED) == RFC_5530_CODES  # and this test states the outcome of each
    assert {m.outcome for m in codes.RFC5530.values()} == set(codes.Outcome)


def login_refusal(code: str) -> LoginError:
    """What imapclient raises for ``a1 NO [CODE] ...`` to LOGIN."""
    return LoginError(f"b'[{code}] Server says {code.lower()}.'")


def clean(exc: BaseException) -> str:
    return failures.server_text(exc)


@pytest.mark.parametrize("code", sorted(RFC_5530_CODES))
def test_each_code_to_login(code: str) -> None:
    error, _, transient, words = EXPECTED[code]
    exc = login_refusal(code)
    translated = failures.translate(exc, "logging in", WHERE, USER, clean)
    assert type(translated) is error
    assert translated.exit_code == (3 if error is AuthError else 4)
    assert failures.is_transient(exc) is transient
    text = str(translated)
    assert words in text and f"[{code}]" in text and WHERE in text, text
    assert "\n" not in text


@pytest.mark.parametrize("code", sorted(RFC_5530_CODES))
def test_each_code_to_another_command(code: str) -> None:
    _, error, transient, words = EXPECTED[code]
    exc = imaplib.IMAP4.error(f"EXAMINE command error: NO [b'[{code}] Server says no.']")
    translated = failures.translate(exc, "opening folder 'INBOX'", WHERE, USER, clean)
    assert type(translated) is error
    assert failures.is_transient(exc) is transient
    assert words in str(translated) and f"[{code}]" in str(translated)


def test_gmail_too_many_connections_is_transient() -> None:
    exc = LoginError("b'[ALERT] Too many simultaneous connections. (Failure)'")
    translated = failures.translate(exc, "logging in", WHERE, USER, clean)
    assert type(translated) is MailboxError and translated.exit_code == 4
    assert failures.is_transient(exc)
    assert "too many connections" in str(translated)


def test_a_refusal_without_a_code_is_still_a_wrong_password() -> None:
    exc = LoginError("b'Invalid credentials (Failure)'")
    translated = failures.translate(exc, "logging in", WHERE, USER, clean)
    assert type(translated) is AuthError and not failures.is_transient(exc)
    unknown = LoginError("b'[WEBALERT https://accounts.google.com/] Web login required.'")
    assert type(failures.translate(unknown, "logging in", WHERE, USER, clean)) is AuthError


def test_codes_are_found_case_insensitively_and_only_as_codes() -> None:
    assert codes.meaning("NO [limit] too many") is codes.RFC5530["LIMIT"]
    assert codes.meaning("NO the LIMIT is near") is None  # a word, not a code
    assert codes.meaning("NO [b'[INUSE] locked']") is codes.RFC5530["INUSE"]


# ---------------------------------------------------------------- the real Dovecot


@pytest.fixture
def user(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A fresh user with one token mail; the password in INBOX_FINDER_PASSWORD."""
    name, password = dovecot.new_user("lim")
    monkeypatch.setenv("INBOX_FINDER_PASSWORD", password)
    token = new_token()
    raw = token_mail(token, when=T0).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    dovecot.append_many(name, [(raw, T0)])
    return name, token


@contextlib.contextmanager
def sessions_held(dovecot: DovecotServer, user: str, n: int = 10) -> Iterator[list[IMAPClient]]:
    """``n`` logged-in sessions of ``user`` (Dovecot's default limit is 10 per user and IP)."""
    with ExitStack() as stack:
        yield [stack.enter_context(dovecot.client(user)) for _ in range(n)]


def limit_rejections(dovecot: DovecotServer, user: str, settle: float = 0.2) -> int:
    """Logins Dovecot refused for mail_max_userip_connections, from its log."""
    time.sleep(settle)  # Dovecot's log writer is asynchronous
    pattern = re.compile(rf"Maximum number of connections .*user=<{re.escape(user)}>")
    return len(pattern.findall((dovecot.base / "dovecot.log").read_text(errors="replace")))


def test_dovecot_connection_limit_is_exit_4_naming_it_not_a_wrong_password(
    dovecot: DovecotServer, user: tuple[str, str]
) -> None:
    name, _ = user
    options = SourceOptions(
        ca_file=dovecot.ca_file, timeout=5, profile={"retries": 1, "retry_backoff": 0.01}
    )
    with (
        sessions_held(dovecot, name),
        open_provider(dovecot.url(name), options) as provider,
        pytest.raises(InboxFinderError) as info,
    ):
        find_token(provider)
    text = str(info.value)
    assert type(info.value) is MailboxError and info.value.exit_code == ExitCode.MAILBOX, text
    assert "[LIMIT] Maximum number of connections from user+IP exceeded" in text
    assert "right now" in text and "gave up after 2 attempts" in text
    assert limit_rejections(dovecot, name) == 2


def test_cli_connection_limit_is_exit_4(
    dovecot: DovecotServer,
    user: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, _ = user
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox.busy]\nurl = "{dovecot.url(name)}"\nca_file = "{dovecot.ca_file}"\n'
        "retries = 1\nretry_backoff = 0.01\n"
    )
    with sessions_held(dovecot, name):
        code = main(["--config", str(config), "find", "busy"])
    out, err = capsys.readouterr()
    assert (code, out) == (ExitCode.MAILBOX, "")
    assert len(err.strip().splitlines()) == 1 and "[LIMIT]" in err, err


def test_a_connection_limit_that_clears_is_retried_through(
    dovecot: DovecotServer, user: tuple[str, str]
) -> None:
    name, token = user
    options = SourceOptions(ca_file=dovecot.ca_file, timeout=5)  # default retries
    with sessions_held(dovecot, name) as held:

        def release_after_the_first_refusal() -> None:
            # Only once Dovecot has refused the lookup's LOGIN for the limit (however the
            # machine's load delays that LOGIN) do the held sessions end; the retry gets in.
            deadline = time.monotonic() + 5
            while limit_rejections(dovecot, name, settle=0) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            for client in held:
                client.logout()

        releaser = threading.Thread(target=release_after_the_first_refusal)
        releaser.start()
        with open_provider(dovecot.url(name), options) as provider:
            assert find_token(provider).token == token
        releaser.join()
    assert limit_rejections(dovecot, name) >= 1


def test_twenty_concurrent_lookups_of_one_user_all_find_the_token(
    dovecot: DovecotServer, user: tuple[str, str]
) -> None:
    """20 lookups of one user at once against Dovecot's default limit of 10, default retries.

    So that the limit is really met however the machine's load staggers the logins, the proxy
    holds each session after EXAMINE (before its SORT) until Dovecot has refused a login for
    the limit (at most 5 s), as a slow network or a big mailbox would.
    """
    name, token = user

    def hold_until_the_limit_is_met() -> None:
        deadline = time.monotonic() + 5
        while limit_rejections(dovecot, name, settle=0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)

    hold = Fault("pass", on_command=r"^UID SORT", times=None, hook=hold_until_the_limit_is_met)
    with FaultProxy(
        (dovecot.host, dovecot.imaps_port),
        tls=TlsTermination.from_dir(dovecot.base),
        faults=[hold],
    ) as proxy:
        n = 20
        barrier = threading.Barrier(n)
        results: dict[int, str | BaseException] = {}

        def work(i: int) -> None:
            options = SourceOptions(ca_file=dovecot.ca_file, timeout=10)
            try:
                with open_provider(proxy.url(name), options) as provider:
                    barrier.wait(timeout=10)
                    results[i] = find_token(provider).token
            except BaseException as exc:  # reported by the assertion below
                results[i] = exc

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert results == dict.fromkeys(range(n), token)
    assert limit_rejections(dovecot, name) >= 1  # the limit was met, and retried through
    assert proxy.max_active > 10
