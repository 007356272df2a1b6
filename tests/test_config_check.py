"""``inbox-finder config check``: validates every profile, never shows or fetches a secret."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from corpus_util import build_mbox
from keyring.backend import KeyringBackend

from inbox_finder.cli.main import main

SECRET = "hunter2-Very-Secret-Value-9876"


class TrippingKeyring(KeyringBackend):
    """A keyring backend that fails the test when config check reads a secret from it."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError(f"config check read the keyring ({service}/{username})")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("config check wrote the keyring")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("config check wrote the keyring")


@pytest.fixture(autouse=True)
def no_secret_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("INBOX_FINDER_PASSWORD", raising=False)
    monkeypatch.delenv("INBOX_FINDER_SF_PASSWORD", raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("config check prompted"))
    previous = keyring.get_keyring()
    keyring.set_keyring(TrippingKeyring())
    yield
    keyring.set_keyring(previous)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORK_IMAP_PASSWORD", SECRET)
    box = build_mbox(tmp_path / "m.mbox")
    marker = tmp_path / "command-ran"
    command = shlex.join([sys.executable, "-c", f"open({str(marker)!r}, 'w'); print('x')"])
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [trust]
            sender_domains = ["sfmail.example.com"]

            [mailbox.local]
            url = "mbox:{box}"
            username = "dana@example.com"
            sf_password_env = "DANA_SF_PASSWORD"

            [mailbox.work]
            url = "imaps://dana@imap.example.com/INBOX"
            password_env = "WORK_IMAP_PASSWORD"
            timeout = 20

            [mailbox.pass]
            url = "imap://ops@mail.example.com"
            password_cmd = {json.dumps(command)}
            retries = 0

            [mailbox.ring]
            url = "imaps://ops@mail.example.com"

            [mailbox.oauth]
            url = "imaps://ops@mail.example.com"
            auth = "XOAUTH2"
            oauth_token_env = "UNSET_TOKEN_VAR"
            """
        ),
        encoding="utf-8",
    )
    return path


def test_check_prints_keys_and_where_each_secret_comes_from(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, out, err = run(capsys, "config", "check", "--config", str(config))
    assert (code, err) == (0, "")
    command = json.loads(config.read_text().split("password_cmd = ")[1].splitlines()[0])
    blocks = {b.split("\n", 1)[0]: b for b in out.split("\n\n")}
    assert out.startswith(f"{config}: valid, 5 profiles\n")
    assert blocks["[mailbox.work] (IMAP)"].splitlines()[1:] == [
        "  url: imaps://dana@imap.example.com/INBOX",
        "  timeout: 20",
        "  password_env: $WORK_IMAP_PASSWORD (set)",
        "  password: from $WORK_IMAP_PASSWORD (set)",
    ]
    assert f"  password: from command `{command}`" in blocks["[mailbox.pass] (IMAP)"]
    assert "  retries: 0" in blocks["[mailbox.pass] (IMAP)"]
    assert (
        "  password: keyring inbox-finder/ops@mail.example.com, else prompt (on a terminal)"
        in blocks["[mailbox.ring] (IMAP)"]
    )
    assert "  oauth token: from $UNSET_TOKEN_VAR (not set)" in blocks["[mailbox.oauth] (IMAP)"]
    local = blocks["[mailbox.local] (mbox file)"]
    assert "  sf_password_env: $DANA_SF_PASSWORD (not set)" in local
    assert "  salesforce password: from $DANA_SF_PASSWORD (not set)" in local
    assert "  sender_domains: salesforce.com, sfmail.example.com" in out
    assert SECRET not in out and not (config.parent / "command-ran").exists()


def test_check_json(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(capsys, "--config", str(config), "config", "check", "--json")
    data = json.loads(out)
    assert code == 0 and data["valid"] is True and data["config"] == str(config)
    assert list(data["profiles"]) == ["local", "work", "pass", "ring", "oauth"]
    work = data["profiles"]["work"]
    assert work["kind"] == "IMAP" and work["keys"]["timeout"] == 20.0
    assert work["keys"]["password_env"] == "$WORK_IMAP_PASSWORD (set)"
    assert work["credentials"] == {"password": "from $WORK_IMAP_PASSWORD (set)"}
    assert data["profiles"]["oauth"]["keys"]["auth"] == "xoauth2"
    assert data["trust"]["verify_dkim"] is False
    assert SECRET not in out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('pasword_cmd = "pass show mail/work"', "did you mean password_cmd?"),
        ("timeout = 'soon'", "key timeout in [mailbox.bad] must be a number, not str"),
        ("retries = 99", "retries must be a whole number 0-10"),
        ('ca_file = "/no/such/ca.pem"', "[mailbox.bad]: CA file not found: /no/such/ca.pem"),
    ],
)
def test_an_invalid_profile_is_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], config: Path, line: str, message: str
) -> None:
    config.write_text(
        config.read_text() + f'\n[mailbox.bad]\nurl = "imaps://d@h"\n{line}\n', encoding="utf-8"
    )
    code, out, err = run(capsys, "config", "check", "--config", str(config))
    assert (code, out) == (2, "")
    assert err.startswith(f"inbox-finder: error: {config}: ") and message in err
    assert err.count("\n") == 1


def test_a_missing_mailbox_path_and_a_bad_url_are_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[mailbox.gone]\nurl = "mbox:/no/such.mbox"\n', encoding="utf-8")
    code, _, err = run(capsys, "config", "check", "--config", str(config))
    assert code == 2 and "[mailbox.gone]: mbox file not found: /no/such.mbox" in err
    config.write_text('[mailbox.u]\nurl = "imaps://no-user-here"\n', encoding="utf-8")
    code, _, err = run(capsys, "config", "check", "--config", str(config))
    assert code == 2 and "[mailbox.u]: IMAP URL needs a user" in err
    config.write_text('[mailbox.u]\nurl = "nosuch://x"\n', encoding="utf-8")
    code, _, err = run(capsys, "config", "check", "--config", str(config))
    assert code == 2 and "unknown source scheme 'nosuch'" in err


def test_no_config_file_is_nothing_to_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    code, out, _ = run(capsys, "config", "check")
    assert code == 0 and out.startswith("no config file (looked for ")
    code, _, err = run(capsys, "config", "check", "--config", str(tmp_path / "named.toml"))
    assert code == 2 and "config file not found" in err


def test_gmail_and_outlook_credentials_are_described(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_SECRET", SECRET)
    creds = tmp_path / "gmail.json"
    config = tmp_path / "c.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [mailbox.g]
            url = "gmail://me"
            credentials = "{creds}"

            [mailbox.o]
            url = "outlook://dana@example.com"
            client_id = "11111111-2222-3333-4444-555555555555"
            tenant = "contoso.onmicrosoft.com"
            client_secret_env = "APP_SECRET"

            [mailbox.me]
            url = "outlook://me"
            client_id = "11111111-2222-3333-4444-555555555555"
            token_cache = "{tmp_path / "cache.json"}"
            """
        ),
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "config", "check", "--config", str(config))
    assert code == 0
    assert f"  credentials: file {creds} (missing: run inbox-finder login gmail)" in out
    assert "  client_secret_env: $APP_SECRET (set)" in out
    assert "  client secret: from $APP_SECRET (set)" in out
    assert f"  token cache: file {tmp_path / 'cache.json'} (missing: run inbox-finder login" in out
    assert SECRET not in out


def test_config_keys_lists_the_declarations(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "keys", "imaps")
    assert code == 0 and out.startswith("Profile keys of imaps sources (IMAP):")
    flat = " ".join(out.split())
    assert "password_cmd a string [secret: command]: command printing the mailbox password" in flat
    assert "retries a whole number: transient faults retried, 0-10 (IMAP 2" in flat
    assert "auth a string (password or xoauth2) (default password)" in flat
    code, _, err = run(capsys, "config", "keys", "nosuch")
    assert code == 2 and "unknown source scheme" in err


def test_the_shipped_example_config_is_valid(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)  # its demo profile names examples/demo.mbox relative to the checkout
    code, out, err = run(capsys, "config", "check", "--config", "examples/config.toml")
    assert code == 0, err
    assert "[mailbox.demo] (mbox file)" in out and "[mailbox.work] (IMAP)" in out
