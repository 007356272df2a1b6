"""The command line: exit codes, output formats, profiles, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from corpus_util import build_mbox, positives

from inbox_finder.cli.main import main


@pytest.fixture(scope="module")
def mbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mbox(tmp_path_factory.mktemp("cli") / "corpus.mbox")


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_output_is_human(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    code, out, err = run(capsys, "find", f"mbox:{mbox}")
    newest = positives()[0]
    assert code == 0 and err == ""
    assert f"Token:     {newest.token}" in out
    assert f"Username:  {newest.username}" in out
    assert "ago)" in out and f"Source:    mbox:{mbox}" in out


def test_quiet_prints_token_alone(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    code, out, _ = run(capsys, "find", f"mbox:{mbox}", "-q")
    assert (code, out) == (0, positives()[0].token + "\n")


def test_json_contract(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    code, out, _ = run(capsys, "find", f"mbox:{mbox}", "--json", "--username", "tz@example.com")
    data = json.loads(out)
    want = next(e for e in positives() if e.username == "tz@example.com")
    assert code == 0
    assert {
        "token",
        "username",
        "received",
        "sender",
        "subject",
        "message_id",
        "source",
        "language",
    } <= set(data)
    assert data["token"] == want.token
    assert datetime.fromisoformat(data["received"]) == want.received
    assert data["received"].endswith("+00:00")
    assert data["source"] == f"mbox:{mbox}"


def test_all_is_an_array_newest_first(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    code, out, _ = run(capsys, "find", f"mbox:{mbox}", "--all", "--json")
    assert code == 0
    assert [d["token"] for d in json.loads(out)] == [e.token for e in positives()]


def test_per_username(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    code, out, _ = run(capsys, "find", f"mbox:{mbox}", "--per-username", "--json")
    data = json.loads(out)
    users = [d["username"] for d in data]
    assert code == 0 and len(users) == len(set(users))
    assert {e.username for e in positives()} == set(users)
    dana = next(d for d in data if d["username"] == "dana@example.com")
    assert dana["token"] == next(e.token for e in positives() if e.username == "dana@example.com")


def test_since(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    cutoff = positives()[1].received.isoformat()
    code, out, _ = run(capsys, "find", f"mbox:{mbox}", "--all", "-q", "--since", cutoff)
    assert (code, out.split()) == (0, [e.token for e in positives()[:2]])
    code, _, err = run(capsys, "find", f"mbox:{mbox}", "--since", "7d")
    assert code == 1 and "no security token email found since" in err


def test_exit_1_when_nothing_matches(capsys: pytest.CaptureFixture[str], mbox: Path) -> None:
    code, out, err = run(capsys, "find", f"mbox:{mbox}", "--username", "nobody@example.com")
    assert (code, out) == (1, "")
    assert err.startswith("inbox-finder: error: no security token email found for nobody@")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["find", "mbox:/no/such/file"],
        ["find", "nosuch:scheme"],
        ["find", "unknown-profile"],
        ["find", "mbox:/x", "--since", "last tuesday"],
        ["find", "mbox:/x", "--json", "-q"],
        ["find"],
        ["--config", "/no/such/config.toml", "find", "work"],
        ["nosuchcommand"],
    ],
)
def test_exit_2_for_usage_and_config_errors(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.strip()


def test_profiles_from_config(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox.archive]\nurl = "mbox:{mbox}"\nusername = "dana@example.com.uat"\n',
        encoding="utf-8",
    )
    want = next(e for e in positives() if e.username == "dana@example.com.uat")
    code, out, _ = run(capsys, "--config", str(config), "find", "archive", "-q")
    assert (code, out.strip()) == (0, want.token)
    monkeypatch.setenv("INBOX_FINDER_CONFIG", str(config))
    code, out, _ = run(capsys, "find", "archive", "-q", "--username", "ops@example.com")
    assert (code, out.strip()) == (
        0,
        next(e.token for e in positives() if e.username == "ops@example.com"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mailbox.a]\nurl = 3\n", "needs a url"),
        ("[mailbox.a\n", "bad config file"),
        ("[mailboxes.a]\nurl='mbox:x'\n", "unknown section"),
        ("[trust]\nsender_domains = 'x'\n", "must be a list"),
        ("[trust]\nfoo = 1\n", "unknown key"),
    ],
)
def test_bad_config_is_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "--config", str(config), "find", "a")
    assert code == 2 and message in err


def test_trust_table_adds_sender_domains(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    raw = (
        "From: noreply@sfrelay.example.com\nSubject: Your new Salesforce security token\n"
        "Date: Mon, 01 Jan 2024 10:00:00 +0000\n\nUsername: a@example.com\n"
        "Security token (case-sensitive): 4jEAKuW3a4g33x2zsX11BkrsB\n"
    )
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "m.eml").write_text(raw, encoding="utf-8")
    assert run(capsys, "find", f"eml:{folder}")[0] == 1
    config = tmp_path / "c.toml"
    config.write_text('[trust]\nsender_domains = ["sfrelay.example.com"]\n', encoding="utf-8")
    assert run(capsys, "--config", str(config), "find", f"eml:{folder}", "-q")[:2] == (
        0,
        "4jEAKuW3a4g33x2zsX11BkrsB\n",
    )


def test_wait_times_out_with_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "eml"
    folder.mkdir()
    code, _, err = run(capsys, "find", f"eml:{folder}", "--wait", "0.3s", "--interval", "0.1s")
    assert code == 1 and "no security token email found" in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("inbox-finder, version ")
    code, out, _ = run(capsys, "find", "--help")
    assert code == 0 and "--username" in out and "--since" in out and "--ca-file" in out


def test_console_script_end_to_end(mbox: Path) -> None:
    """The installed entry point, as cron would run it; no traceback on errors."""
    exe = Path(sys.executable).with_name("inbox-finder")
    env = {**os.environ, "INBOX_FINDER_CONFIG": ""}
    ok = subprocess.run(
        [str(exe), "find", f"mbox:{mbox}", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (ok.returncode, ok.stdout.strip()) == (0, positives()[0].token)
    bad = subprocess.run(
        [str(exe), "find", "mbox:/nope"], capture_output=True, text=True, env=env, check=False
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "inbox-finder: error: mbox file not found: /nope"
