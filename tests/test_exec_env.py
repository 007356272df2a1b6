"""The --exec child's environment: the scan's own minus every secret variable, plus the finding."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from corpus_util import build_mbox, positives

from inbox_finder.cli.main import main
from inbox_finder.scan.actions import FIXED_SECRET_VARS, SECRET_ENV_KEYS

ROOT = Path(__file__).resolve().parent.parent
# Where the tool and the providers read secrets from the environment.
SECRET_READERS = [
    ROOT / "inbox_finder" / "secret_sources.py",
    ROOT / "inbox_finder" / "salesforce" / "credentials.py",
    *sorted((ROOT / "providers").rglob("*.py")),
]

SECRETS = {
    "INBOX_FINDER_PASSWORD": "imap-secret-1",
    "INBOX_FINDER_SF_PASSWORD": "sf-secret-2",
    "WORK_IMAP_PASSWORD": "imap-secret-3",
    "WORK_SF_PASSWORD": "sf-secret-4",
    "WORK_OAUTH_TOKEN": "oauth-secret-5",
    "GRAPH_APP_SECRET": "graph-secret-6",
    "OTHER_PROFILE_PASSWORD": "imap-secret-7",
}


def _config(tmp_path: Path, mbox: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[mailbox.work]
url = "mbox:{mbox}"
username = "dana@example.com"
sf_password_env = "WORK_SF_PASSWORD"

[mailbox.imap]
url = "imaps://dana@imap.example.com"
password_env = "WORK_IMAP_PASSWORD"
oauth_token_env = "WORK_OAUTH_TOKEN"

[mailbox.graph]
url = "outlook://dana@example.com"
client_id = "00000000-0000-0000-0000-000000000000"
tenant = "example.onmicrosoft.com"
client_secret_env = "GRAPH_APP_SECRET"

[mailbox.other]
url = "imaps://ops@imap.example.com"
password_env = "OTHER_PROFILE_PASSWORD"
""",
        encoding="utf-8",
    )
    return config


def _environ(path: Path) -> dict[str, str]:
    entries = path.read_bytes().split(b"\0")
    return dict(e.decode().split("=", 1) for e in entries if e)


@pytest.mark.parametrize("source", ["work", "url"])
def test_child_environment_is_ours_minus_secrets_plus_the_finding(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
) -> None:
    mbox = build_mbox(tmp_path / "inbox.mbox")
    config = _config(tmp_path, mbox)
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    seen = tmp_path / "environ"
    # /proc/$$/environ is exactly what the shell was started with (nothing the shell adds).
    cmd = f"cat /proc/$$/environ > {seen}"
    target = "work" if source == "work" else f"mbox:{mbox}"
    args = ["--config", str(config), "scan", target, "--state", str(tmp_path / "s")]
    code = main([*args, "-u", "dana@example.com", "--exec", cmd])
    capsys.readouterr()
    assert code == 0
    dana = next(e for e in positives() if e.username == "dana@example.com")
    expected = {k: v for k, v in os.environ.items() if k not in SECRETS}
    expected |= {
        "INBOX_FINDER_TOKEN": dana.token or "",
        "INBOX_FINDER_USERNAME": "dana@example.com",
        "INBOX_FINDER_RECEIVED": dana.received.isoformat(),
    }
    child = _environ(seen)
    assert child == expected
    assert child["HARMLESS_SETTING"] == "kept"
    text = seen.read_text()
    assert not any(secret in text for secret in SECRETS.values())


def test_every_secret_env_key_in_the_code_is_scrubbed() -> None:
    """A new ``*_env`` profile key or INBOX_FINDER_* secret variable cannot be forgotten."""
    keys: set[str] = set()
    variables: set[str] = set()
    for path in SECRET_READERS:
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r'"([a-z_]+_env)"', text))
        variables |= set(re.findall(r'"(INBOX_FINDER_[A-Z_]*(?:PASSWORD|SECRET|TOKEN))"', text))
    assert {"password_env", "sf_password_env", "oauth_token_env", "client_secret_env"} <= keys
    assert keys <= set(SECRET_ENV_KEYS)
    assert variables <= set(FIXED_SECRET_VARS)
    assert {"INBOX_FINDER_PASSWORD", "INBOX_FINDER_SF_PASSWORD"} <= set(FIXED_SECRET_VARS)
