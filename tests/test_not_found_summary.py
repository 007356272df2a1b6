"""Exit 1 says how many candidate token mails were rejected and why, in one line.

A real mbox holding only look-alikes: a spoof (DMARC fail recorded by Gmail), a look-alike
sender domain, a mail with two different tokens, and mail that does not claim to be a token
mail at all (not counted). The same counts reach library users on NotFoundError.rejected.
"""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from corpus_util import negatives
from mailgen import new_token, other_mail, token_mail, verification_mail

from inbox_finder import NotFoundError, find_token, find_tokens
from inbox_finder.cli.main import main

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def two_tokens(when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Salesforce <support@salesforce.com>"
    msg["To"] = "dana@example.com"
    msg["Subject"] = "Your new Salesforce security token"
    msg["Date"] = format_datetime(when)
    msg.set_content(
        f"Username: dana@example.com\nSecurity token (case-sensitive): {new_token()}\n\n"
        f"Username: dana@example.com\nSecurity token (case-sensitive): {new_token()}\n"
    )
    return msg.as_bytes()


def spoofed(when: datetime) -> bytes:
    header = (
        b"Authentication-Results: mx.google.com; dkim=none; spf=softfail "
        b"smtp.mailfrom=attacker.example; dmarc=fail (p=REJECT) header.from=salesforce.com\n"
    )
    return header + token_mail(new_token(), when=when)


def look_alike(when: datetime) -> bytes:
    return token_mail(new_token(), when=when, sender="support@salesforce.com.evil.net")


@pytest.fixture
def mbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(path))
    mails = [
        spoofed(T0),
        look_alike(T0 + timedelta(hours=1)),
        two_tokens(T0 + timedelta(hours=2)),
        verification_mail(when=T0 + timedelta(hours=3)),  # no token claimed: not counted
        other_mail(1, when=T0 + timedelta(hours=4)),
    ]
    for i, raw in enumerate(mails):
        msg = mailbox.mboxMessage(raw)
        msg.set_from("MAILER-DAEMON", (T0 + timedelta(hours=i)).utctimetuple())
        box.add(msg)
    box.flush()
    box.close()
    return path


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


SUMMARY = (
    "3 candidate mails rejected: 1 ambiguous (two tokens), 1 spoofed sender (DMARC fail), "
    "1 untrusted sender domain"
)


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_exit_1_names_the_rejected_mails_in_one_line(
    capsys: pytest.CaptureFixture[str], mbox: Path, debug: list[str]
) -> None:
    code = main([*debug, "find", f"mbox:{mbox}"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    last = err.splitlines()[-1]
    assert last == f"inbox-finder: error: no security token email found in mbox:{mbox}; {SUMMARY}"
    assert "Traceback" not in err
    if not debug:
        assert err.count("\n") == 1


def test_verbose_names_each_rejected_mail(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    code = main(["--verbose", "find", f"mbox:{mbox}"])
    _, err = capsys.readouterr()
    rejected = [line for line in err.splitlines() if "INFO" in line and "rejected" in line]
    assert code == 1 and len(rejected) == 3
    assert any("dmarc=fail per mx.google.com" in line for line in rejected)
    assert any("salesforce.com.evil.net" in line for line in rejected)
    assert any("ambiguous (two tokens)" in line for line in rejected)


def test_another_usernames_token_is_counted(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    box = mailbox.mbox(str(mbox))
    box.add(mailbox.mboxMessage(token_mail(new_token(), "ops@example.com", T0)))
    box.flush()
    box.close()
    code = main(["find", f"mbox:{mbox}", "--username", "dana@example.com"])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("inbox-finder: error: no security token email found for dana@example.com")
    assert "4 candidate mails rejected: " in err and "1 for another username" in err


def test_library_users_get_the_counts(mbox: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        find_token(f"mbox:{mbox}")
    assert info.value.rejected == {
        "spoofed sender (DMARC fail)": 1,
        "untrusted sender domain": 1,
        "ambiguous (two tokens)": 1,
    }
    assert SUMMARY in str(info.value)
    assert find_tokens(f"mbox:{mbox}") == []  # not required: an empty list, no error
    with pytest.raises(NotFoundError, match="3 candidate mails rejected"):
        find_tokens(f"mbox:{mbox}", required=True)


def test_nothing_rejected_says_nothing_more(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "a.eml").write_bytes(verification_mail(when=T0))
    code = main(["find", f"eml:{folder}"])
    _, err = capsys.readouterr()
    assert code == 1
    assert err == f"inbox-finder: error: no security token email found in eml:{folder}\n"


def test_golden_corpus_look_alikes_are_counted_by_kind(tmp_path: Path) -> None:
    """Of the corpus negatives only the ones posing as token mail from a Salesforce-looking
    sender count: a colleague's reply never reaches the trust check, a verification code mail
    names no token, a bounce is not a token mail; a token only inside an attached message and
    an OAuth notice with a request id are "no token in the body"."""
    folder = tmp_path / "negatives"
    folder.mkdir()
    for entry in negatives():
        (folder / entry.file).write_bytes(entry.raw)
    with pytest.raises(NotFoundError) as info:
        find_token(f"eml:{folder}")
    assert info.value.rejected == {
        "spoofed sender (DMARC fail)": 2,
        "untrusted sender domain": 1,
        "no token in the body": 2,
    }


def test_a_reply_from_salesforce_is_counted(tmp_path: Path) -> None:
    folder = tmp_path / "eml"
    folder.mkdir()
    raw = token_mail(new_token(), when=T0, subject="RE: Your new Salesforce security token")
    (folder / "reply.eml").write_bytes(raw)
    with pytest.raises(NotFoundError, match=r"1 candidate mail rejected: 1 reply$"):
        find_token(f"eml:{folder}")
