"""Retirement notices and the end of the login check, login() refusals that name what to
check, and the SOAP emulator's version and permission rules (real Salesforce behaviour)."""

from __future__ import annotations

import io
import json
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from corpus_util import build_mbox, positives
from emulators.ms_emulators import LoopbackCA
from emulators.soap_emulator import Org, SoapEmulator

from inbox_finder.cli.main import main
from inbox_finder.cli.options import VerifySpec
from inbox_finder.errors import ExitCode
from inbox_finder.model import Finding
from inbox_finder.salesforce import retirement

PASSWORD = "s3cret-pw"
DANA = "dana@example.com"
CURRENT = next(e.token or "" for e in positives() if e.username == DANA)
NOTICE = "inbox-finder: notice: "
BEFORE = datetime(2026, 12, 1, 9, tzinfo=UTC)
AFTER = datetime(2027, 6, 2, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def mbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mbox(tmp_path_factory.mktemp("retire") / "corpus.mbox")


@pytest.fixture
def emu(ca: LoopbackCA) -> Iterator[SoapEmulator]:
    with SoapEmulator(ca) as emulator:
        emulator.add_user(DANA, PASSWORD, CURRENT)
        yield emulator


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("INBOX_FINDER_SF_PASSWORD", PASSWORD)
    monkeypatch.setitem(sys.modules, "keyring", types.ModuleType("keyring"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


def at_day(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    monkeypatch.setattr(retirement, "system_clock", lambda: when)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def login(emu: SoapEmulator, ca: LoopbackCA, version: str | None = None) -> list[str]:
    url = emu.endpoint(version) if version else emu.base_url
    return ["--login-url", url, "--ca-file", str(ca.ca_file)]


# ---------------------------------------------------------------- before the date


def test_verify_warns_once_before_the_retirement(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    at_day(monkeypatch, BEFORE)
    code, out, err = run(capsys, "verify", f"mbox:{mbox}", "-u", DANA, *login(emu, ca))
    assert code == 0 and out.startswith("Result:")
    notices = [line for line in err.splitlines() if line.startswith(NOTICE)]
    assert len(notices) == 1
    assert "Summer '27" in notices[0] and "in 182 days" in notices[0]
    assert "External Client App" in notices[0]
    assert "SOAP" not in out  # never on stdout


def test_json_carries_the_notices_and_stdout_stays_one_object(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    at_day(monkeypatch, BEFORE)
    code, out, _ = run(capsys, "verify", f"mbox:{mbox}", "-u", DANA, "--json", *login(emu, ca))
    data = json.loads(out)
    assert code == 0 and data["result"] == "valid"
    assert data["notices"] == [retirement.login_check_notice()]
    code, out, _ = run(
        capsys, "find", f"mbox:{mbox}", "-u", DANA, "--verify", "--json", *login(emu, ca)
    )
    data = json.loads(out)
    assert code == 0 and data["token"] == CURRENT and len(data["notices"]) == 1


def test_quiet_stdout_is_the_token_alone(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    at_day(monkeypatch, BEFORE)
    code, out, err = run(
        capsys, "find", f"mbox:{mbox}", "-u", DANA, "--verify", "-q", *login(emu, ca)
    )
    assert (code, out) == (0, CURRENT + "\n")
    assert err.count(NOTICE) == 1


def test_scan_verify_notices_once_per_run_not_per_token(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
    tmp_path: Path,
) -> None:
    at_day(monkeypatch, BEFORE)
    emu.add_user("ops@example.com", PASSWORD, "SomeOtherToken0000000001")
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s.json"), "--json"]
    code, out, err = run(
        capsys, *args, "-u", DANA, "-u", "ops@example.com", "--verify", *login(emu, ca)
    )
    assert code == 0 and len(out.splitlines()) == 2
    assert err.count(NOTICE) == 1


# ---------------------------------------------------------------- after the date


def test_after_the_retirement_verify_is_exit_12_without_a_login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    at_day(monkeypatch, AFTER)
    code, out, err = run(capsys, "verify", f"mbox:{mbox}", "-u", DANA, *login(emu, ca))
    assert (code, out) == (ExitCode.SF_LOGIN_RETIRED, "")
    assert "retired" in err and "no longer" in err and err.count("\n") == 1
    code, out, _ = run(capsys, "find", f"mbox:{mbox}", "-u", DANA, "--verify", *login(emu, ca))
    assert (code, out) == (ExitCode.SF_LOGIN_RETIRED, "")
    assert emu.login_attempts == []  # never reported as a wrong token: not even tried


def test_after_the_retirement_scan_verify_reports_unknown_and_logs_in_nowhere(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
    tmp_path: Path,
) -> None:
    at_day(monkeypatch, AFTER)
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "s.json"), "--json", "-u", DANA]
    code, out, err = run(capsys, *args, "--verify", *login(emu, ca))
    data = json.loads(out)
    assert code == 0 and data["valid"] is None and data["verify"]["result"] == "unknown"
    assert "no longer" in err and emu.login_attempts == []


# ---------------------------------------------------------------- refusals that name the cause


@pytest.mark.parametrize(
    ("org", "permission"),
    [
        (Org("00D5e000000XyZaEAA", soap_login_enabled=False), False),
        (Org("00D5e000000XyZbEAA", requires_api_auth_permission=True), False),
    ],
    ids=["login-off-for-org", "no-use-any-api-auth"],
)
def test_login_off_or_missing_permission_names_the_setting_and_permission(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ca: LoopbackCA,
    mbox: Path,
    org: Org,
    permission: bool,
) -> None:
    at_day(monkeypatch, BEFORE)
    with SoapEmulator(ca) as emu:
        emu.add_user(DANA, PASSWORD, CURRENT, org=org, use_any_api_auth=permission)
        code, _, err = run(capsys, "verify", f"mbox:{mbox}", "-u", DANA, *login(emu, ca))
    assert code == ExitCode.SF_API_DISABLED
    assert "INSUFFICIENT_ACCESS" in err and "Use Any API Auth" in err and "admin" in err


def test_a_user_with_the_permission_logs_in(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ca: LoopbackCA, mbox: Path
) -> None:
    at_day(monkeypatch, BEFORE)
    org = Org("00D5e000000XyZcEAA", requires_api_auth_permission=True)
    with SoapEmulator(ca) as emu:
        emu.add_user(DANA, PASSWORD, CURRENT, org=org, use_any_api_auth=True)
        assert run(capsys, "verify", f"mbox:{mbox}", "-u", DANA, *login(emu, ca))[0] == 0


@pytest.mark.parametrize("version", ["30.0", "65.0", "66.0"])
def test_versions_without_login_are_refused_with_a_hint(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
    version: str,
) -> None:
    at_day(monkeypatch, BEFORE)
    code, _, err = run(capsys, "verify", f"mbox:{mbox}", "-u", DANA, *login(emu, ca, version))
    assert code == ExitCode.SF_REFUSED
    assert "UNSUPPORTED_API_VERSION" in err and "64.0" in err and "--login-url" in err


def test_our_default_version_is_one_that_still_has_login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    at_day(monkeypatch, BEFORE)
    assert run(capsys, "verify", f"mbox:{mbox}", "-u", DANA, *login(emu, ca))[0] == 0
    assert emu.login_attempts == [DANA]


# ---------------------------------------------------------------- sandbox-aware endpoint


def finding(subject: str) -> Finding:
    return Finding(
        token=CURRENT,
        username="dana@example.com.uat",
        received=BEFORE,
        sender="support@salesforce.com",
        subject=subject,
        message_id=None,
        source="mbox:x",
        language="en",
        template="current",
        trust="sender",
    )


@pytest.mark.parametrize(
    ("subject", "host"),
    [
        ("Sandbox: Your new Salesforce security token", "test.salesforce.com"),
        ("(External Email) Sandbox: Your new Salesforce security token", "test.salesforce.com"),
        ("Your new Salesforce security token", "login.salesforce.com"),
        ("FW: Sandbox: Your new Salesforce security token", "login.salesforce.com"),
    ],
)
def test_a_sandbox_mail_picks_the_sandbox_login_server(subject: str, host: str) -> None:
    endpoint, note = VerifySpec().for_finding(finding(subject))
    assert endpoint.startswith(f"https://{host}/services/Soap/u/")
    assert (note is not None) is (host == "test.salesforce.com")


def test_an_explicit_login_server_always_wins() -> None:
    sandbox_mail = finding("Sandbox: Your new Salesforce security token")
    endpoint, note = VerifySpec(my_domain="acme").for_finding(sandbox_mail)
    assert endpoint.startswith("https://acme.my.salesforce.com/") and note is None
