"""A genuine token mail newer than the answer whose body yields no token (a new layout, a body
format we do not read) is reported: the token is printed as before, with one warning line on
stderr saying the token may not be the newest. Attacks, replies and older mail say nothing."""

from __future__ import annotations

import logging
import mailbox
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from mailgen import new_token, token_mail

from inbox_finder import engine, find_token
from inbox_finder.cli.main import main
from inbox_finder.testing.mail import SUBJECT

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
NEW_LAYOUT = "Hello,\nYour security token was reset. Sign in to Salesforce to see it.\n"


def unreadable_mail(
    when: datetime, sender: str = "support@salesforce.com", subject: str = SUBJECT
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Salesforce <{sender}>"
    msg["To"] = "dana@example.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain="salesforce.com")
    msg.set_content(NEW_LAYOUT)
    return msg.as_bytes()


@pytest.fixture(autouse=True)
def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    warned: set[object] = getattr(engine, "_WARNED", set())
    warned.clear()  # each test is its own "process"
    yield
    warned.clear()


def write_mbox(path: Path, mails: list[tuple[datetime, bytes]]) -> Path:
    """The mbox at ``path`` (created if missing) with (delivery time, message) appended in
    the order given."""
    box = mailbox.mbox(str(path))
    for when, raw in mails:
        msg = mailbox.mboxMessage(raw)
        msg.set_from("MAILER-DAEMON", when.utctimetuple())
        box.add(msg)
    box.flush()
    box.close()
    return path


@pytest.fixture
def make_mbox(tmp_path: Path) -> Callable[..., tuple[Path, str]]:
    def make(*later: tuple[timedelta, Callable[[datetime], bytes]]) -> tuple[Path, str]:
        """An mbox with one readable token mail at T0 plus ``later`` mails (offset, builder)."""
        token = new_token()
        mails = [(T0, token_mail(token, when=T0)), *((T0 + d, b(T0 + d)) for d, b in later)]
        return write_mbox(tmp_path / "inbox.mbox", mails), token

    return make


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "WARNING" in line]


def test_newer_unreadable_token_mail_warns_beside_the_answer(
    make_mbox: Callable[..., tuple[Path, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, token = make_mbox((timedelta(days=19), unreadable_mail))
    code = main(["find", f"mbox:{path}", "-q"])
    out, err = capsys.readouterr()
    assert (code, out) == (0, f"{token}\n")
    [warning] = _warnings(err)
    assert "support@salesforce.com received 2026-11-20 08:00:00 UTC yielded no token" in warning
    assert "no token in the body" in warning and "may not be the newest" in warning
    assert token not in err


def test_older_unreadable_mail_says_nothing(
    make_mbox: Callable[..., tuple[Path, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, token = make_mbox((timedelta(days=-3), unreadable_mail))
    assert main(["find", f"mbox:{path}", "-q"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"{token}\n", "")


@pytest.mark.parametrize(
    "builder",
    [
        lambda when: unreadable_mail(when, sender="support@salesforce.com.evil.example"),
        lambda when: unreadable_mail(when, subject=f"Re: {SUBJECT}"),
        lambda when: unreadable_mail(
            when, subject="Your OAuth token for Salesforce CLI was revoked"
        ),
    ],
    ids=["look-alike sender", "reply", "another kind of token"],
)
def test_untrusted_reply_or_other_token_mail_says_nothing(
    make_mbox: Callable[..., tuple[Path, str]],
    capsys: pytest.CaptureFixture[str],
    builder: Callable[[datetime], bytes],
) -> None:
    path, token = make_mbox((timedelta(days=2), builder))
    assert main(["find", f"mbox:{path}", "-q"]) == 0
    assert capsys.readouterr() == (f"{token}\n", "")


def test_listing_every_token_mail_warns_about_an_older_one_too(
    make_mbox: Callable[..., tuple[Path, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_mbox((timedelta(days=-3), unreadable_mail))
    assert main(["find", f"mbox:{path}", "--all", "-q"]) == 0
    assert len(_warnings(capsys.readouterr().err)) == 1


def test_library_logs_the_warning_once_per_process(
    make_mbox: Callable[..., tuple[Path, str]], caplog: pytest.LogCaptureFixture
) -> None:
    path, token = make_mbox((timedelta(days=1), unreadable_mail))
    with caplog.at_level(logging.WARNING, logger="inbox_finder"):
        assert find_token(f"mbox:{path}").token == token
        assert find_token(f"mbox:{path}").token == token  # `find --wait` asks again
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].name == "inbox_finder.engine"


def test_scan_warns_when_the_newest_token_mail_is_unreadable(
    make_mbox: Callable[..., tuple[Path, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path, token = make_mbox((timedelta(days=5), unreadable_mail))
    code = main(["scan", f"mbox:{path}", "--state", str(tmp_path / "s.state"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and token in out  # the readable one is still reported
    assert len(_warnings(err)) == 1 and token not in err


@pytest.mark.parametrize(("days", "warned"), [(5, 0), (15, 1)])
def test_several_sources_judge_against_the_merged_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], days: int, warned: int
) -> None:
    # Source b: a token at T0 and an unreadable mail `days` later; source a: the newest token
    # at T0 + 10 days. The unreadable mail matters only when it is newer than that answer.
    newest, older = new_token(), new_token()
    ten = T0 + timedelta(days=10)
    a = write_mbox(tmp_path / "a.mbox", [(ten, token_mail(newest, when=ten))])
    later = T0 + timedelta(days=days)
    b = write_mbox(
        tmp_path / "b.mbox", [(T0, token_mail(older, when=T0)), (later, unreadable_mail(later))]
    )
    assert main(["find", f"mbox:{a}", f"mbox:{b}", "-q"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{newest}\n"
    assert len(_warnings(err)) == warned


@pytest.mark.parametrize(
    ("later", "warned"), [((), 0), (((timedelta(days=-2), unreadable_mail),), 1)]
)
def test_report_warns_about_each_unreadable_token_mail(
    make_mbox: Callable[..., tuple[Path, str]],
    capsys: pytest.CaptureFixture[str],
    later: tuple[tuple[timedelta, Callable[[datetime], bytes]], ...],
    warned: int,
) -> None:
    path, token = make_mbox(*later)
    assert main(["report", f"mbox:{path}"]) == 0
    out, err = capsys.readouterr()
    assert "dana@example.com" in out and token not in out + err  # tokens hidden
    assert len(_warnings(err)) == warned


def test_scan_warns_about_an_unreadable_token_mail_that_arrived_since_the_last_scan(
    make_mbox: Callable[..., tuple[Path, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # Since the last scan a token mail we cannot read arrived, then a readable one for another
    # username. The unreadable mail is older than everything this scan reports, but it may be
    # the only new token of its (unknown) username: the scheduled scan must not stay silent.
    path, _ = make_mbox()
    state = str(tmp_path / "s.state")
    assert main(["scan", f"mbox:{path}", "--state", state, "--json"]) == 0
    capsys.readouterr()
    other, one, two = new_token(), T0 + timedelta(days=1), T0 + timedelta(days=2)
    arrived = [(one, unreadable_mail(one)), (two, token_mail(other, "ops@example.com", two))]
    write_mbox(path, arrived)  # appended after the last scan's end
    engine._WARNED.clear()  # a new scan is a new process
    assert main(["scan", f"mbox:{path}", "--state", state, "--json"]) == 0
    out, err = capsys.readouterr()
    assert other in out and "ops@example.com" in out
    [warning] = _warnings(err)
    assert "received 2026-11-02 08:00:00 UTC yielded no token" in warning
    assert other not in err
