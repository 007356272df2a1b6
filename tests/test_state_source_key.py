"""A state file belongs to a source, however the source is spelled."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from corpus_util import build_maildir, build_mbox

from inbox_finder.cli.main import main
from inbox_finder.scan.state import canonical_source


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def scan(capsys: pytest.CaptureFixture[str], source: str, state: Path) -> tuple[int, int, str]:
    """(exit code, findings reported, stderr)."""
    code = main(["scan", source, "--state", str(state), "--json"])
    out, err = capsys.readouterr()
    return code, len(out.splitlines()), err


def test_relative_dotted_and_absolute_paths_are_one_source(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "mail").mkdir()
    build_mbox(tmp_path / "mail" / "inbox.mbox")
    (tmp_path / "alias").symlink_to("mail")
    state = tmp_path / "s"
    code, first, _ = scan(capsys, "mbox:mail/inbox.mbox", state)
    assert code == 0 and first > 0
    for spelling in (
        "mbox:./mail/inbox.mbox",
        f"mbox:{tmp_path}/mail/inbox.mbox",
        f"mbox://{tmp_path}/mail/../mail/inbox.mbox",
        "MBOX:alias/inbox.mbox",
    ):
        assert scan(capsys, spelling, state) == (0, 0, ""), spelling
    build_mbox(tmp_path / "mail" / "other.mbox")
    code, _, err = scan(capsys, "mbox:mail/other.mbox", state)
    assert code == 2 and "another source" in err


def test_maildir_with_a_trailing_slash_is_the_same_source(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    build_maildir(tmp_path / "Maildir")
    state = tmp_path / "s"
    assert scan(capsys, "maildir:Maildir/", state)[0] == 0
    assert scan(capsys, f"maildir:{tmp_path}/Maildir", state) == (0, 0, "")


def _legacy_state(path: Path, literal: str) -> None:
    """A state file as the previous version wrote it: keyed by the literal SOURCE."""
    salt = "00" * 16
    key = hmac.new(bytes.fromhex(salt), ("source:" + literal).encode(), hashlib.sha256)
    data = {
        "format": "inbox-finder-scan-state",
        "version": 1,
        "salt": salt,
        "source": key.hexdigest(),
        "cursor": None,
        "usernames": {},
    }
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("run_as", ["mbox:box.mbox", "mbox:./box.mbox", "absolute"])
def test_old_state_file_keyed_by_a_relative_path_is_accepted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, run_as: str
) -> None:
    build_mbox(tmp_path / "box.mbox")
    state = tmp_path / "s"
    _legacy_state(state, "mbox:box.mbox")
    source = f"mbox:{tmp_path}/box.mbox" if run_as == "absolute" else run_as
    code, _, err = scan(capsys, source, state)
    assert (code, err) == (0, "")
    rewritten = json.loads(state.read_text())["source"]
    canonical = hmac.new(
        b"\0" * 16, f"source:mbox:{os.path.realpath(tmp_path)}/box.mbox".encode(), hashlib.sha256
    ).hexdigest()
    assert rewritten == canonical  # from now on keyed by the canonical spelling


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("IMAPS://dana@IMAP.Example.COM:993/INBOX/", "imaps://dana@imap.example.com/INBOX"),
        ("imaps://dana@imap.example.com/INBOX", "imaps://dana@imap.example.com/INBOX"),
        ("imap://dana@imap.example.com:143", "imap://dana@imap.example.com"),
        ("imaps://dana@imap.example.com:1993/", "imaps://dana@imap.example.com:1993"),
        ("imaps://Dana%40corp@[::1]:993/Archive", "imaps://Dana%40corp@[::1]/Archive"),
        ("gmail://me/", "gmail://me"),
        ("Outlook://dana@example.com", "outlook://dana@example.com"),
    ],
)
def test_canonical_urls(given: str, canonical: str) -> None:
    assert canonical_source(given) == canonical


def test_canonical_local_paths(tmp_path: Path) -> None:
    home = os.path.realpath(os.path.expanduser("~"))
    assert canonical_source("mbox:~/inbox.mbox") == f"mbox:{home}/inbox.mbox"
    assert canonical_source("eml:./x/") == f"eml:{os.path.realpath(tmp_path)}/x"
