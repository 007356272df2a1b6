"""``report --verify``: one login per username through the SOAP emulator, never more."""

from __future__ import annotations

import io
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_util import build_eml_dir, positives
from emulators.ms_emulators import LoopbackCA
from emulators.soap_emulator import SoapEmulator

from inbox_finder.cli.main import main

PASSWORD = "s3cret-pw"


def newest_tokens() -> dict[str, str]:
    """Each username's newest token, from expected.json (positives() is newest first)."""
    out: dict[str, str] = {}
    for e in positives():
        if e.username:
            out.setdefault(e.username, e.token or "")
    return out


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_FINDER_SF_PASSWORD", PASSWORD)
    monkeypatch.setitem(sys.modules, "keyring", types.ModuleType("keyring"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


@pytest.fixture
def emu(ca: LoopbackCA) -> Iterator[SoapEmulator]:
    with SoapEmulator(ca) as emulator:
        yield emulator


def test_one_login_per_username_and_the_verdict_in_each_row(
    emu: SoapEmulator, ca: LoopbackCA, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = newest_tokens()
    current, stale = sorted(tokens)[:2]
    emu.add_user(current, PASSWORD, tokens[current])
    emu.add_user(stale, PASSWORD, "ResetSinceTheLastMail0001")  # reset: the mail is stale
    folder = build_eml_dir(tmp_path / "eml")
    args = ["report", f"eml:{folder}", "--json", "--verify"]
    code = main([*args, "--login-url", emu.base_url, "--ca-file", str(ca.ca_file)])
    out, err = capsys.readouterr()
    rows = {r["username"]: r for r in json.loads(out)}
    assert code == 0
    assert rows[current]["verify"] == "valid"
    assert rows[stale]["verify"] == "invalid_login"
    unknown = set(tokens) - {current, stale}
    assert all(rows[u]["verify"] == "invalid_login" for u in unknown)  # no such user
    assert sorted(emu.login_attempts) == sorted(tokens)  # exactly one login each
    assert all(t not in out + err for t in tokens.values())  # tokens stay hidden
    assert err.count("SOAP API login()") >= 1


def test_without_verify_no_login_is_made(
    emu: SoapEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = build_eml_dir(tmp_path / "eml")
    assert main(["report", f"eml:{folder}", "--json"]) == 0
    assert all(r["verify"] is None for r in json.loads(capsys.readouterr().out))
    assert emu.login_attempts == []


def test_login_options_need_verify(tmp_path: Path) -> None:
    folder = build_eml_dir(tmp_path / "eml")
    assert main(["report", f"eml:{folder}", "--sandbox"]) == 2
