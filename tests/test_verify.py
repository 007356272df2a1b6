"""verify / find --verify / scan --verify / split against the SOAP login emulator (HTTPS, test CA)."""

from __future__ import annotations

import io
import json
import shlex
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from corpus_util import build_mbox, positives
from emulators import soap_emulator
from emulators.ms_emulators import LoopbackCA
from emulators.soap_emulator import SoapEmulator

from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError
from inbox_finder.salesforce.login import API_VERSION, PARTNER_NS, login_endpoint, login_envelope

# XML specials: the envelope must carry them unchanged. (A CR, LF or NUL in a password is
# refused before any login: see test_secret_sources.py.)
PASSWORD = "s3cret&<pw>"
DANA = "dana@example.com"
DANA_TOKENS = [e.token or "" for e in positives() if e.username == DANA]  # newest first
CURRENT, OLDER = DANA_TOKENS[0], DANA_TOKENS[1]
DANA_RECEIVED = next(e.received for e in positives() if e.username == DANA)


class FakeKeyring(types.ModuleType):
    """Stands in for the keyring package (never touch the developer's real keyring)."""

    def __init__(self) -> None:
        super().__init__("keyring")
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, name: str) -> str | None:
        return self.store.get((service, name))


@pytest.fixture(scope="module")
def mbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mbox(tmp_path_factory.mktemp("verify") / "corpus.mbox")


@pytest.fixture
def emu(ca: LoopbackCA) -> Iterator[SoapEmulator]:
    with SoapEmulator(ca, lockout_after=2) as emulator:
        emulator.add_user(DANA, PASSWORD, CURRENT)
        yield emulator


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKeyring:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("INBOX_FINDER_SF_PASSWORD", PASSWORD)
    ring = FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", ring)

    def no_prompt(prompt: str = "") -> str:
        raise AssertionError("getpass must not be called")

    monkeypatch.setattr("getpass.getpass", no_prompt)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return ring


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    stdin: str | None = None,
) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


NOTICE = "inbox-finder: notice: "


def without_notices(err: str) -> str:
    """stderr less the retirement notices (tested on their own in test_login_retirement.py)."""
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith(NOTICE))


def at(emu: SoapEmulator, ca: LoopbackCA) -> list[str]:
    return ["--login-url", emu.base_url, "--ca-file", str(ca.ca_file)]


def assert_no_secrets(emu: SoapEmulator, *texts: str, tokens: tuple[str, ...] = ()) -> None:
    secrets = [PASSWORD, PASSWORD.strip(), *emu.issued, *tokens, *DANA_TOKENS]
    for text in texts:
        for secret in secrets:
            assert secret not in text


# ---------------------------------------------------------------- verify


def test_current_token_is_valid_with_one_login_and_a_logout(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    code, out, err = run(
        capsys, monkeypatch, "--debug", "verify", f"mbox:{mbox}", "-u", DANA, *at(emu, ca)
    )
    assert code == 0
    assert "valid (Salesforce accepted the password and this token)" in out
    assert f"Instance:   {emu.base_url}" in out
    assert emu.users[DANA].user_id in out and "logged out" in out
    assert emu.attempts() == 1 and emu.logouts == [DANA] and emu.sessions == {}
    assert "DEBUG" in err and "session logged out" in err
    assert len(emu.issued) == 1
    assert_no_secrets(emu, out, err)


def test_older_token_from_the_same_mailbox_is_invalid_login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
) -> None:
    code, out, err = run(
        capsys, monkeypatch, "verify", "-", "-u", DANA, *at(emu, ca), stdin=OLDER + "\n"
    )
    assert (code, out) == (6, "")
    assert without_notices(err).startswith(
        f"inbox-finder: error: INVALID_LOGIN for {DANA}: the token or"
    )
    assert "left to check" in err and without_notices(err).count("\n") == 1
    assert err.count(NOTICE) == 1  # the retirement notice, once
    assert emu.login_attempts == [DANA] and emu.logouts == []
    assert_no_secrets(emu, out, err)


def test_token_reset_since_the_newest_mail_is_invalid_login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    emu.users[DANA].token = "ResetAfterTheLastMail0001"
    # --debug shows no traceback for an expected refusal: the verdict is one error line.
    code = main(["--debug", "verify", f"mbox:{mbox}", "-u", DANA, *at(emu, ca)])
    out, err = capsys.readouterr()
    assert code == 6 and "error: INVALID_LOGIN for dana@example.com" in err
    assert "Traceback" not in err
    assert emu.attempts() == 1
    assert_no_secrets(emu, out, err)


def test_json_verdict_for_valid_and_invalid(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "verify", f"mbox:{mbox}", "-u", DANA, "--json", *at(emu, ca)
    )
    data = json.loads(out)
    assert code == 0 and data["result"] == "valid" and data["valid"] is True
    assert data["organization_id"] == emu.default_org.org_id and data["logged_out"] is True
    assert data["token_received"] == DANA_RECEIVED.isoformat()
    code, out, err = run(
        capsys, monkeypatch, "verify", "-u", DANA, "--json", *at(emu, ca), stdin=OLDER
    )
    data = json.loads(out)
    assert (code, without_notices(err)) == (6, "")
    assert data["result"] == "invalid_login" and data["fault_code"] == "INVALID_LOGIN"
    assert data["valid"] is False and data["instance_url"] is None
    assert emu.attempts() == 2
    assert_no_secrets(emu, out)


@pytest.mark.parametrize(
    ("setup", "code", "text"),
    [
        ("needs_token", 7, "LOGIN_MUST_USE_SECURITY_TOKEN for dana@example.com"),
        ("org_api_off", 8, "API_DISABLED_FOR_ORG for dana@example.com"),
        ("user_api_off", 8, "API_CURRENTLY_DISABLED for dana@example.com"),
        ("expired", 9, "password expired for dana@example.com: Salesforce accepted"),
        ("locked", 10, "PASSWORD_LOCKOUT for dana@example.com: the user is locked out"),
        ("org_locked", 11, "ORG_LOCKED for dana@example.com: Salesforce refused the login: Login"),
    ],
)
def test_each_refusal_has_its_exit_code_and_one_login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    setup: str,
    code: int,
    text: str,
) -> None:
    user = emu.users[DANA]
    if setup == "needs_token":  # what is sent (password source + token) is the bare password
        user.password = PASSWORD + CURRENT
        user.token = "SomeOtherToken0000000001"
    elif setup == "org_api_off":
        user.org.api_enabled = False
    elif setup == "user_api_off":
        user.api_enabled = False
    elif setup == "expired":
        user.password_expired = True
    else:
        user.locked = True
        emu.lockout_code = "PASSWORD_LOCKOUT" if setup == "locked" else "ORG_LOCKED"
    result = run(capsys, monkeypatch, "verify", "-", "-u", DANA, *at(emu, ca), stdin=CURRENT)
    assert result[:2] == (code, "")
    assert f"inbox-finder: error: {text}" in result[2]
    assert emu.attempts() == 1 and emu.logouts == []
    # An expired password's session cannot log out: it is left to expire, not retried.
    assert len(emu.sessions) == (1 if setup == "expired" else 0)
    assert_no_secrets(emu, *result[1:])


def test_server_text_that_echoes_secrets_is_scrubbed(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
) -> None:
    monkeypatch.setitem(soap_emulator.MESSAGES, "ORG_LOCKED", f"no login with {PASSWORD}{CURRENT}")
    emu.users[DANA].locked, emu.lockout_code = True, "ORG_LOCKED"
    code, out, err = run(capsys, monkeypatch, "verify", "-u", DANA, *at(emu, ca), stdin=CURRENT)
    assert code == 11 and "Salesforce refused the login: no login with …" in err
    assert_no_secrets(emu, out, err)


def test_lockout_builds_up_one_login_per_run_never_a_retry(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
) -> None:
    codes = [
        run(capsys, monkeypatch, "verify", "-u", DANA, *at(emu, ca), stdin=token)[0]
        for token in (OLDER, DANA_TOKENS[2], CURRENT)
    ]
    assert codes == [6, 6, 10]
    assert emu.attempts() == 3 and emu.issued == []


def test_unreachable_port_is_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    url = f"https://127.0.0.1:{port}"
    code, out, err = run(
        capsys, monkeypatch, "verify", "-u", DANA, "--login-url", url, stdin=CURRENT
    )
    assert (code, out) == (4, "")
    assert f"cannot connect to Salesforce at 127.0.0.1:{port}: connection refused" in err


def test_untrusted_certificate_without_ca_file_is_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, emu: SoapEmulator
) -> None:
    code, _, err = run(
        capsys, monkeypatch, "verify", "-u", DANA, "--login-url", emu.base_url, stdin=CURRENT
    )
    assert code == 4 and "TLS certificate of 127.0.0.1" in err and "--ca-file" in err
    assert emu.attempts() == 0  # the password never left the TLS handshake


def test_an_answer_that_is_not_soap_is_exit_4(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
) -> None:
    url = f"{emu.base_url}/services/Soap/u/{API_VERSION}/not-here"
    code, _, err = run(
        capsys,
        monkeypatch,
        "verify",
        "-u",
        DANA,
        "--login-url",
        url,
        "--ca-file",
        str(ca.ca_file),
        stdin=CURRENT,
    )
    assert code == 4 and "HTTP 404 without a SOAP envelope" in err


def test_password_sources_profile_command_and_keyring(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
    tmp_path: Path,
    isolated: FakeKeyring,
) -> None:
    monkeypatch.delenv("INBOX_FINDER_SF_PASSWORD")
    code, _, err = run(capsys, monkeypatch, "verify", "-u", DANA, *at(emu, ca), stdin=CURRENT)
    assert code == 3 and "no Salesforce password for dana@example.com" in err
    assert "keyring set inbox-finder-salesforce dana@example.com" in err
    isolated.store[("inbox-finder-salesforce", DANA)] = PASSWORD
    assert run(capsys, monkeypatch, "verify", "-u", DANA, *at(emu, ca), stdin=CURRENT)[0] == 0
    isolated.store.clear()
    secret_file = tmp_path / "pw"
    secret_file.write_bytes(PASSWORD.encode())
    code_text = "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())"
    command = shlex.join([sys.executable, "-c", code_text, str(secret_file)])
    config = tmp_path / "config.toml"
    config.write_text(
        f"[mailbox.work]\nurl = 'mbox:{mbox}'\nusername = '{DANA}'\n"
        f"sf_password_cmd = {json.dumps(command)}\n",
        encoding="utf-8",
    )
    code, out, err = run(
        capsys, monkeypatch, "--config", str(config), "verify", "work", *at(emu, ca)
    )
    assert code == 0 and f"Username:   {DANA}" in out
    assert emu.attempts() == 2  # the run without a password never logged in
    assert_no_secrets(emu, out, err)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["verify", "-"], CURRENT, "--username is required"),
        (["verify", "-u", DANA], "not-a-token", "stdin holds no security token"),
        (["verify", "-u", DANA, "--sandbox", "--my-domain", "acme"], CURRENT, "exclude each other"),
        (["verify", "-u", DANA, "--login-url", "http://example.com"], CURRENT, "https://"),
        (["find", "mbox:/x", "--verify", "--all"], "", "excludes --all"),
        (["find", "mbox:/x", "--sandbox"], "", "need --verify"),
        (["split"], f"{PASSWORD}\n{CURRENT}\n", "several lines"),
    ],
)
def test_usage_errors_are_exit_2_without_a_login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    code, out, err = run(capsys, monkeypatch, *args, stdin=stdin)
    assert (code, out) == (2, "") and message in err
    assert emu.attempts() == 0
    assert_no_secrets(emu, err)


@pytest.mark.parametrize(
    ("options", "url"),
    [
        ({}, f"https://login.salesforce.com/services/Soap/u/{API_VERSION}"),
        ({"sandbox": True}, f"https://test.salesforce.com/services/Soap/u/{API_VERSION}"),
        ({"my_domain": "acme"}, f"https://acme.my.salesforce.com/services/Soap/u/{API_VERSION}"),
        (
            {"my_domain": "Acme--UAT.sandbox.my.salesforce.com"},
            f"https://acme--uat.sandbox.my.salesforce.com/services/Soap/u/{API_VERSION}",
        ),
        (
            {"login_url": "https://acme.my.salesforce.com/"},
            f"https://acme.my.salesforce.com/services/Soap/u/{API_VERSION}",
        ),
        (
            {"login_url": "https://x.example/services/Soap/u/58.0"},
            "https://x.example/services/Soap/u/58.0",
        ),
    ],
)
def test_endpoint(options: dict[str, object], url: str) -> None:
    assert login_endpoint(**options) == url  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"login_url": "http://login.salesforce.com"},
        {"login_url": "http://127.0.0.1:8080"},
        {"login_url": "https://user:pw@login.salesforce.com"},
        {"login_url": "https://login.salesforce.com/?x=1"},
        {"login_url": "https://login.salesforce.com/services/oauth2/token"},
        {"my_domain": "acme/evil"},
        {"sandbox": True, "login_url": "https://x.example"},
    ],
)
def test_bad_endpoint(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        login_endpoint(**options)  # type: ignore[arg-type]


def test_login_envelope_carries_the_password_exactly() -> None:
    raw = PASSWORD + "\r" + CURRENT  # a CR survives the envelope too (parsers turn it to LF)
    root = ET.fromstring(login_envelope("a&b@example.com", raw))  # noqa: S314
    login = root.find(f".//{{{PARTNER_NS}}}login")
    assert login is not None
    assert login.findtext(f"{{{PARTNER_NS}}}username") == "a&b@example.com"
    assert login.findtext(f"{{{PARTNER_NS}}}password") == raw
    with pytest.raises(ConfigError, match="control character") as info:
        login_envelope(DANA, "pw\x00" + CURRENT)
    assert CURRENT not in str(info.value)


# ---------------------------------------------------------------- split


@pytest.mark.parametrize(
    "combined", [PASSWORD + CURRENT + "\n", f'"{PASSWORD + CURRENT}"\n', PASSWORD + CURRENT]
)
def test_split_recovers_the_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, combined: str
) -> None:
    code, out, err = run(capsys, monkeypatch, "split", stdin=combined)
    assert (code, out, err) == (0, CURRENT + "\n", "")


@pytest.mark.parametrize(
    ("combined", "message"),
    [
        (PASSWORD + "short", "not a plausible security token (20-30 letters and digits; 5 "),
        (PASSWORD + CURRENT + "!", "not a plausible security token"),
        (PASSWORD + "A" * 31, "not a plausible security token"),
        (PASSWORD, "; 0 characters follow"),
        ("other" + CURRENT, "does not start with the Salesforce password"),
    ],
)
def test_split_refuses_what_is_not_password_plus_token(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    combined: str,
    message: str,
) -> None:
    code, out, err = run(capsys, monkeypatch, "split", "-u", DANA, stdin=combined)
    assert (code, out) == (1, "") and message in err and err.count("\n") == 1
    assert PASSWORD.strip() not in err and CURRENT not in err


# ---------------------------------------------------------------- find / scan --verify


def test_find_verify(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
) -> None:
    code, out, err = run(
        capsys, monkeypatch, "find", f"mbox:{mbox}", "-u", DANA, "--verify", *at(emu, ca)
    )
    assert code == 0 and f"Token:     {CURRENT}" in out
    assert f"Login:     valid for {DANA}: Salesforce accepted" in out
    emu.users[DANA].token = "ResetAfterTheLastMail0001"
    code, out, err = run(
        capsys, monkeypatch, "find", f"mbox:{mbox}", "-u", DANA, "--verify", "--json", *at(emu, ca)
    )
    data = json.loads(out)
    assert code == 6 and data["token"] == CURRENT and data["valid"] is False
    assert data["verify"]["result"] == "invalid_login"
    code, out, err = run(
        capsys, monkeypatch, "find", f"mbox:{mbox}", "-u", DANA, "--verify", "-q", *at(emu, ca)
    )
    assert (code, out) == (6, CURRENT + "\n")
    assert without_notices(err).startswith(
        "inbox-finder: error: INVALID_LOGIN for dana@example.com"
    )
    assert emu.attempts() == 3 and emu.logouts == [DANA]


def test_scan_verify_marks_findings_and_passes_validity_to_exec(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emu: SoapEmulator,
    ca: LoopbackCA,
    mbox: Path,
    tmp_path: Path,
) -> None:
    emu.add_user("ops@example.com", PASSWORD, "SomeOtherToken0000000001")
    seen = tmp_path / "seen"
    exec_cmd = f'echo "$INBOX_FINDER_USERNAME $INBOX_FINDER_TOKEN_VALID $INBOX_FINDER_VERIFY_RESULT" >> {seen}'
    args = ["scan", f"mbox:{mbox}", "--state", str(tmp_path / "state.json"), "--json"]
    args += ["-u", DANA, "-u", "ops@example.com", "--exec", exec_cmd, "--verify", *at(emu, ca)]
    code, out, err = run(capsys, monkeypatch, *args)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert {d["username"]: d["valid"] for d in lines} == {DANA: True, "ops@example.com": False}
    assert all("token" not in d for d in lines)  # delivered to --exec, not printed
    assert sorted(seen.read_text().splitlines()) == [
        f"{DANA} yes valid",
        "ops@example.com no invalid_login",
    ]
    assert "new token: INVALID_LOGIN for ops@example.com" in err
    assert emu.attempts() == 2 and emu.logouts == [DANA]
    assert run(capsys, monkeypatch, *args)[:2] == (0, "")  # nothing new: no login at all
    assert emu.attempts() == 2
    assert_no_secrets(emu, err)
