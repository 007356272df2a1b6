"""How a state file recognises its source: canonical spellings, and the literal spellings older
versions keyed files by (a path with a colon, a ``~`` path, ``mbox://relative``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from findings import make_finding

from inbox_finder.scan.state import ScanState, canonical_source

WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)
TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"


def test_canonical_spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert canonical_source("mbox://box") == canonical_source("mbox:box") == f"mbox:{tmp_path}/box"
    assert canonical_source("IMAPS://Dana@Mail.Example:993/INBOX/") == (
        "imaps://Dana@mail.example/INBOX"
    )
    # A malformed port is the provider's to report; the spelling just leaves it out.
    assert canonical_source("imaps://dana@mail.example:99999/INBOX") == (
        "imaps://dana@mail.example/INBOX"
    )
    assert canonical_source("imaps://[::1]:1993/INBOX") == "imaps://[::1]:1993/INBOX"
    assert canonical_source("imaps:///INBOX") == "imaps:/INBOX"  # no host: none made up


def keyed_by(state: ScanState, literal: str) -> ScanState:
    """A state file as an older version wrote it: keyed by the literal source string."""
    state.source = state._mac("source:" + literal)
    return state


def test_a_file_keyed_by_a_literal_spelling_is_still_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "a:b").touch()
    (tmp_path / "box").touch()
    state = ScanState(tmp_path / "s.json")
    assert keyed_by(state, "mbox:~/box").belongs_to("mbox:~/box")
    assert keyed_by(state, "mbox:a:b").belongs_to(f"mbox:{tmp_path}/a:b")
    assert keyed_by(state, "mbox:./a:b").belongs_to("mbox:a:b")
    assert not keyed_by(state, "mbox:other").belongs_to("mbox:box")


finding = make_finding


def test_the_same_token_seen_again_later_is_not_new(tmp_path: Path) -> None:
    """A copy of the recorded mail with a later receive time (moved back, re-delivered)."""
    state = ScanState(tmp_path / "s.json")
    state.record(finding(TOKEN, WHEN))
    assert not state.is_new_finding(finding(TOKEN, WHEN + timedelta(days=1)))
    assert state.is_new_finding(finding("Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2R", WHEN + timedelta(seconds=1)))


def test_a_different_token_with_the_same_receive_time_is_not_new(tmp_path: Path) -> None:
    """Two tokens received in the same second cannot be ordered: never announce the other one."""
    state = ScanState(tmp_path / "s.json")
    state.record(finding(TOKEN, WHEN))
    assert not state.is_new_finding(finding("Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2R", WHEN))
    assert not state.is_new_finding(
        finding("Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2R", WHEN - timedelta(seconds=1))
    )
