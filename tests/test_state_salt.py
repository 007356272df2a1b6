"""The scan state's fingerprints are salted per file: HMAC-SHA256 keyed by the file's own random
salt (see inbox_finder/scan/state.py), so two state files for one mailbox share no fingerprint,
and neither a token nor a username can be confirmed by hashing a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from corpus_util import build_mbox, positives

from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError
from inbox_finder.scan.runner import scan
from inbox_finder.scan.state import load_state


@pytest.fixture
def mbox(tmp_path: Path) -> Path:
    return build_mbox(tmp_path / "inbox.mbox")


def run(mbox: Path, state: Path) -> dict[str, Any]:
    with open_provider(f"mbox:{mbox}") as provider:
        assert scan(provider, state).reported
    data: dict[str, Any] = json.loads(state.read_text())
    return data


def fingerprints(data: dict[str, Any]) -> set[str]:
    """Every fingerprint in a state file: source, username keys, token fingerprints."""
    users = data["usernames"]
    return {data["source"], *users, *(v["fingerprint"] for v in users.values())}


def newest_tokens() -> dict[str, str]:
    """username (case-folded, "" for legacy mail) -> newest token of the corpus."""
    out: dict[str, str] = {}
    for entry in sorted(positives(), key=lambda e: e.received, reverse=True):
        out.setdefault((entry.username or "").casefold(), entry.token)
    return out


def test_two_state_files_for_one_mailbox_share_no_fingerprint(mbox: Path, tmp_path: Path) -> None:
    one, two = run(mbox, tmp_path / "one.json"), run(mbox, tmp_path / "two.json")
    assert one["salt"] != two["salt"]
    assert len(bytes.fromhex(one["salt"])) >= 16  # 128 random bits at least
    assert len(one["usernames"]) == len(two["usernames"]) >= 2
    assert fingerprints(one).isdisjoint(fingerprints(two))


def test_fingerprints_are_hmacs_keyed_by_the_files_salt(mbox: Path, tmp_path: Path) -> None:
    data = run(mbox, tmp_path / "state.json")
    key = bytes.fromhex(data["salt"])

    def mac(value: str) -> str:
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    expected = newest_tokens()
    assert set(data["usernames"]) == {mac("user:" + user) for user in expected}
    for user, token in expected.items():
        fingerprint = data["usernames"][mac("user:" + user)]["fingerprint"]
        assert fingerprint == mac("token:" + token)
        unsalted = {hashlib.sha256(v.encode()).hexdigest() for v in (token, "token:" + token)} | {
            hmac.new(b"", ("token:" + token).encode(), hashlib.sha256).hexdigest()
        }
        assert fingerprint not in unsalted  # a guess hashed without the salt confirms nothing
    text = (tmp_path / "state.json").read_text()
    assert not any(token in text for token in expected.values())


def test_the_salt_is_what_ties_the_file_to_its_source(mbox: Path, tmp_path: Path) -> None:
    """Another salt makes every stored fingerprint foreign: the file no longer matches."""
    state = tmp_path / "state.json"
    data = run(mbox, state)
    data["salt"] = "00" * 16
    state.write_text(json.dumps(data))
    loaded = load_state(state)
    assert not loaded.belongs_to(f"mbox:{mbox}")
    with open_provider(f"mbox:{mbox}") as provider, pytest.raises(ConfigError, match="another"):
        scan(provider, state)


def test_cli_scans_with_two_state_files_each_get_their_own_salt(
    mbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [tmp_path / "a.json", tmp_path / "b.json"]
    for state in files:
        assert main(["scan", f"mbox:{mbox}", "--state", str(state), "--json"]) == 0
    capsys.readouterr()
    one, two = (json.loads(f.read_text()) for f in files)
    assert one["salt"] != two["salt"] and fingerprints(one).isdisjoint(fingerprints(two))
