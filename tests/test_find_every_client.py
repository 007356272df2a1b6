"""One home with every kind of desktop store: `find` with no SOURCE merges them all.

Thunderbird (two profiles), Evolution and mutt from desktop_homes, plus an nmh tree (found
through ``~/.mh_profile``) and a folder of Outlook ``.msg`` files in ``~/Documents`` (written
by the real MSG writer). Apple Mail is discovered on macOS only, so its store is given as a
SOURCE beside ``local:``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from desktop_homes import Home, full_home
from desktop_stores import emlx_bytes, emlx_path, msg_item, set_time, write_msg_files
from test_find_local import isolate, run

from inbox_finder import find_token, find_tokens
from inbox_finder.errors import ConfigError
from inbox_finder.testing.mail import token_mail

MH_TOKEN, MSG_TOKEN, APPLE_TOKEN = (
    "Mh1Nh2Oh3Ph4Qh5Rh6Sh7Th8U",
    "Ms1Gs2Ot3Lk4Mx5Ny6Oz7Pa8B",
    "Ap1Pl2Em3Ai4Lx5Ty6Uz7Va8C",
)
MH_WHEN = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # all three newer than the fixture's mail
MSG_WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
APPLE_WHEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
COPIED = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # when the .msg was dragged out of Outlook


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    built = full_home(tmp_path / "home")
    root = built.root
    (root / ".mh_profile").write_text("Path: nmh\n")
    mh = root / "nmh" / "inbox"
    mh.mkdir(parents=True)
    (mh / ".mh_sequences").write_text("unseen: 1\n")
    (mh / "1").write_bytes(token_mail(MH_TOKEN, "mh@example.com", MH_WHEN))
    set_time(mh / "1", MH_WHEN)
    saved = root / "Documents" / "salesforce mail"
    saved.mkdir(parents=True)
    item = msg_item(
        saved / "token.msg", token_mail(MSG_TOKEN, "ops@example.com", MSG_WHEN), MSG_WHEN
    )
    write_msg_files([item])
    set_time(saved / "token.msg", COPIED)
    built.newest.update({"mh@example.com": MH_TOKEN, "ops@example.com": MSG_TOKEN})
    isolate(monkeypatch, root, tmp_path)
    return built


def apple_store(root: Path) -> Path:
    version = root / "Library" / "Mail" / "V10"
    path = emlx_path(version, "INBOX", 1)
    path.write_bytes(emlx_bytes(token_mail(APPLE_TOKEN, "qa@example.com", APPLE_WHEN), APPLE_WHEN))
    return root / "Library" / "Mail"


def test_find_with_no_source_merges_every_discovered_client(home: Home) -> None:
    done = run("find", "--per-username", "--json")
    assert done.returncode == 0, done.stderr
    found = {f["username"]: f for f in json.loads(done.stdout)}
    assert {u: f["token"] for u, f in found.items()} == home.newest
    assert found["mh@example.com"]["source"] == f"mh:{home.root / 'nmh'}"
    assert (
        found["ops@example.com"]["source"] == f"msg:{home.root / 'Documents' / 'salesforce mail'}"
    )
    # The .msg file's copy time is later than everything; its delivery time decides.
    assert found["ops@example.com"]["received"] == MSG_WHEN.isoformat()
    quick = run("find", "-q")
    assert quick.stdout == MSG_TOKEN + "\n"


def test_sources_lists_the_mh_and_msg_stores_too(home: Home) -> None:
    stores = json.loads(run("sources", "--json").stdout)
    clients = [(s["client"], s["url"].split(":", 1)[0]) for s in stores]
    assert ("mutt", "maildir") in clients and ("Thunderbird", "thunderbird") in clients
    urls = {s["url"] for s in stores}
    assert {f"mh:{home.root / 'nmh'}", f"msg:{home.root / 'Documents' / 'salesforce mail'}"} <= urls


def test_a_store_given_beside_local_joins_the_merge(home: Home) -> None:
    library = apple_store(home.root)
    done = run("find", "local:", f"applemail:{library}", "--per-username", "--json")
    assert done.returncode == 0, done.stderr
    found = {f["username"]: f for f in json.loads(done.stdout)}
    assert found["qa@example.com"]["token"] == APPLE_TOKEN
    assert found["qa@example.com"]["source"] == f"applemail:{library}"
    assert run("find", "-q", "local:", f"applemail:{library}").stdout == APPLE_TOKEN + "\n"


def test_the_library_takes_local_too(home: Home) -> None:
    assert find_token("local:").token == MSG_TOKEN
    every = find_tokens(["local:"], per_username=True)
    assert {f.username: f.token for f in every} == home.newest


def test_the_library_says_when_there_is_no_local_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path / "empty", tmp_path)
    with pytest.raises(ConfigError, match="no local mail store found under"):
        find_token("local:")


def test_the_human_answer_says_how_many_local_stores_were_searched(home: Home) -> None:
    done = run("find")
    assert done.returncode == 0 and f"Token:     {MSG_TOKEN}" in done.stdout
    assert done.stderr == (
        "inbox-finder: searched the 6 local mail store(s) found under your home "
        "(inbox-finder sources lists them); give a SOURCE to search another\n"
    )
    for quiet in (["-q"], ["--json"]):  # scripts and cron get the answer alone
        assert run("find", *quiet).stderr == ""
    assert run("find", "local:", "-q").stdout == MSG_TOKEN + "\n"
