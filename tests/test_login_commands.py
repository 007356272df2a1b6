"""``login SCHEME`` is built from the providers' declared login commands, lazily.

``login outlook`` runs for real through the CLI against the identity emulator (real MSAL over
real HTTPS); the import checks run in fresh interpreters.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ms_emulators import IdentityEmulator, LoopbackCA, make_test_ca

from inbox_finder.boundary.registry import BUILTIN_SCHEMES, provider_class
from inbox_finder.cli.login import login_targets
from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError

PUBLIC_ID = "66666666-7777-8888-9999-000000000000"
SDKS = ("googleapiclient", "google.auth", "google_auth_oauthlib", "msal", "requests")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def imported_after(*args: str) -> set[str]:
    """Modules a fresh interpreter has loaded after running the CLI with ``args``."""
    code = (
        "import sys, contextlib, io\n"
        "from inbox_finder.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main({list(args)!r}) == 0\n"
        "print(__import__('json').dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout))


def test_login_commands_come_from_the_providers() -> None:
    assert login_targets() == {
        "gmail": "inbox_finder.providers.gmail.command:login_gmail",
        "outlook": "inbox_finder.providers.outlook.command:login_outlook",
    }
    for scheme in BUILTIN_SCHEMES:
        declared = provider_class(scheme).login_command
        assert (declared is not None) == (scheme in ("gmail", "outlook"))


def test_login_help_lists_each_declared_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "login", "--help")
    assert code == 0
    assert "gmail    Sign in to Gmail with the read-only scope gmail.readonly." in out
    assert "outlook  Device-code sign-in to Microsoft 365 with the read-only scope" in out


def test_top_level_help_imports_no_provider_and_login_help_no_sdk() -> None:
    top = imported_after("--help")
    assert not {m for m in top if m.startswith("inbox_finder.providers")}
    assert "inbox_finder.cli.login" not in top
    login = imported_after("login", "--help")
    assert "inbox_finder.providers.gmail.command" in login
    assert not {m for m in login if m.split(".")[0] in {s.split(".")[0] for s in SDKS}}


@pytest.mark.parametrize(
    ("scheme", "options"),
    [
        ("gmail", ["--client-secrets FILE", "--no-browser", "--account TEXT", "--out FILE"]),
        (
            "outlook",
            ["--client-id TEXT", "--tenant TEXT", "--authority TEXT", "--token-cache FILE"],
        ),
    ],
)
def test_login_options_are_unchanged(
    capsys: pytest.CaptureFixture[str], scheme: str, options: list[str]
) -> None:
    code, out, _ = run(capsys, "login", scheme, "--help")
    assert code == 0
    for option in [*options, "--config PATH", "-v, --verbose", "--debug"]:
        assert option in out
    assert ("--ca-file" in out) == (scheme == "outlook")


def test_a_scheme_without_login_and_an_unknown_one_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "login", "mbox")
    assert (code, out) == (2, "")
    assert "mbox sources need no login; login commands: gmail, outlook" in err
    code, _, err = run(capsys, "login", "nosuch")
    assert code == 2 and "No such command 'nosuch'" in err


def test_login_gmail_runs_the_gmail_flow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "client_secret.json"
    code, out, err = run(capsys, "login", "gmail", "--client-secrets", str(missing))
    assert (code, out) == (2, "") and str(missing) in err
    with pytest.raises(ConfigError):  # --debug after the login subcommand reaches main
        main(["login", "gmail", "--client-secrets", str(missing), "--debug"])


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def idp(ca: LoopbackCA) -> Iterator[IdentityEmulator]:
    with IdentityEmulator(ca) as emu:
        emu.register_public_client(PUBLIC_ID)
        yield emu


def test_login_outlook_signs_in_through_the_cli(
    capsys: pytest.CaptureFixture[str], idp: IdentityEmulator, ca: LoopbackCA, tmp_path: Path
) -> None:
    cache = tmp_path / "msal_cache.json"
    code, out, err = run(
        capsys,
        "login",
        "outlook",
        "--client-id",
        PUBLIC_ID,
        "--authority",
        idp.authority("common"),
        "--token-cache",
        str(cache),
        "--ca-file",
        str(ca.ca_file),
        "-v",
    )
    assert code == 0 and out == "", err
    assert "signed in as dana@example.com; use outlook://me as SOURCE" in err
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
