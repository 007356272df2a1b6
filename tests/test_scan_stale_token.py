"""When the newest token mail is deleted or moved away, the older token it replaced is stale:
a later scan must neither announce it again nor write it to an integration's --write-env file.

Local mailboxes search their whole content again after any change (the cursor only says
"changed"), so the older token mail is read again; only the state's "is this finding new"
answer keeps it quiet: an older, different token is not new.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from mailboxes import LocalMailbox

from inbox_finder.cli.main import main
from inbox_finder.scan.runner import scan
from inbox_finder.testing import Message
from inbox_finder.testing.cases import T0
from inbox_finder.testing.mail import new_token, other_mail, token_mail

DANA = "dana@example.com"
OPS = "ops@example.com"
OLD, NEW, OPS_TOKEN = new_token(), new_token(), new_token(28)


def messages() -> dict[str, Message]:
    """Dana's older and newest token mails, another user's token, and unrelated mail."""
    at = [T0 + timedelta(hours=h) for h in range(5)]
    return {
        "old": Message(token_mail(OLD, DANA, at[0]), at[0]),
        "ops": Message(token_mail(OPS_TOKEN, OPS, at[1]), at[1]),
        "noise": Message(other_mail(1, when=at[2]), at[2]),
        "new": Message(token_mail(NEW, DANA, at[3]), at[3]),
    }


def without_newest(box: LocalMailbox) -> None:
    """Delete Dana's newest token mail in place (a user, a mail rule or a retention policy)."""
    if box.kind == "mbox":  # an mbox client rewrites the file
        box.recreate([m for k, m in messages().items() if k != "new"])
        return
    (hit,) = [p for p in box.path.rglob("*") if p.is_file() and NEW.encode() in p.read_bytes()]
    hit.unlink()


def moved_away(box: LocalMailbox, archive: LocalMailbox) -> None:
    """Move the newest token mail into another mailbox of the same kind."""
    archive.add(messages()["new"])
    without_newest(box)


def tokens(result_reported: list[object]) -> set[str]:
    return {getattr(f, "token") for f in result_reported}  # noqa: B009 - Finding, untyped list


@pytest.fixture(params=["eml", "maildir", "mbox"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_box(kind: str, root: Path, content: list[Message]) -> LocalMailbox:
    root.mkdir()
    return LocalMailbox(kind, root, content)


def test_deleted_newest_token_mail_never_revives_the_older_token(kind: str, tmp_path: Path) -> None:
    box = new_box(kind, tmp_path / "box", list(messages().values()))
    state = tmp_path / "state.json"
    with box.open() as provider:
        first = scan(provider, state)
    assert tokens(first.reported) == {NEW, OPS_TOKEN}
    without_newest(box)
    with box.open() as provider:
        again = scan(provider, state)
    assert again.reported == [] and again.failed == []
    assert not again.unchanged  # the mailbox changed and was searched: the rule did it
    with box.open() as provider:
        assert scan(provider, state).reported == []  # and stays quiet
    later = T0 + timedelta(days=1)
    fresh = new_token()
    box.add(Message(token_mail(fresh, DANA, later), later))
    with box.open() as provider:
        assert tokens(scan(provider, state).reported) == {fresh}  # a newer token still counts


def test_moved_newest_token_mail_never_revives_the_older_token(kind: str, tmp_path: Path) -> None:
    box = new_box(kind, tmp_path / "box", list(messages().values()))
    archive = new_box(kind, tmp_path / "archive", [])
    state = tmp_path / "state.json"
    with box.open() as provider:
        assert tokens(scan(provider, state).reported) == {NEW, OPS_TOKEN}
    moved_away(box, archive)
    with box.open() as provider:
        assert scan(provider, state).reported == []


def test_stale_token_is_not_written_to_the_env_file(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = new_box(kind, tmp_path / "box", list(messages().values()))
    env, state = tmp_path / "app.env", tmp_path / "state.json"
    env.write_text("OTHER=1\n")
    args = ["scan", box.url, "--state", str(state), "-u", DANA, "--json"]
    args += ["--write-env", f"{env}:SF_TOKEN"]
    assert main(args) == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["username"] for d in first] == [DANA]
    assert env.read_text() == f"OTHER=1\nSF_TOKEN={NEW}\n"
    without_newest(box)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out == ""  # nothing announced
    assert env.read_text() == f"OTHER=1\nSF_TOKEN={NEW}\n"  # the newest token stays in place
    assert OLD not in env.read_text()
