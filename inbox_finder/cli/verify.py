"""``verify`` and ``split``, and the ``--verify`` glue for find and scan: parsing and printing."""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from inbox_finder.api import find_token
from inbox_finder.cli.options import (
    VerifySpec,
    endpoint_options,
    folder_options,
    selection_options,
    source_options,
    trust_options,
)
from inbox_finder.cli.output import age, human
from inbox_finder.config import Config, load_config, profile_for
from inbox_finder.errors import ConfigError, InboxFinderError, LoginRejectedError
from inbox_finder.model import Finding
from inbox_finder.salesforce.credentials import SF_KEYRING_SERVICE as SF_KEYRING_SERVICE
from inbox_finder.salesforce.credentials import SF_PASSWORD_ENV as SF_PASSWORD_ENV
from inbox_finder.salesforce.credentials import TOKEN_RE, salesforce_password, split_token
from inbox_finder.salesforce.login import DEFAULT_TIMEOUT, LoginCheck, Outcome, check_login

log = logging.getLogger("inbox_finder")
F = TypeVar("F", bound=Callable[..., Any])

MAX_STDIN = 64 * 1024
ONE_LOGIN = (
    "It makes exactly ONE login and never retries a rejected one: failed logins count toward "
    "Salesforce's lockout, so do not run it in a loop."
)


# ---------------------------------------------------------------- input


def _read_secret(prompt: str) -> str:
    """One secret line from stdin (a hidden prompt on a terminal), without its newline."""
    stream = sys.stdin
    if stream is None:
        raise ConfigError("no stdin to read from")
    if stream.isatty():
        return getpass.getpass(prompt)
    text = stream.read(MAX_STDIN + 1)
    if len(text) > MAX_STDIN:
        raise ConfigError("stdin is too large: give one line")
    text = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    if "\n" in text:
        raise ConfigError("stdin holds several lines: give one line")
    return text


def _read_token() -> str:
    token = _read_secret("Security token: ").strip()
    if not TOKEN_RE.fullmatch(token):
        raise ConfigError("stdin holds no security token (20-30 letters and digits)")
    return token


# ---------------------------------------------------------------- options


# ---------------------------------------------------------------- rendering


def _check(
    username: str,
    token: str,
    endpoint: str,
    profile: Mapping[str, Any],
    *,
    password: str | None = None,
    ca_file: str | None,
    timeout: float | None,
) -> LoginCheck:
    password = password or salesforce_password(username, profile)
    return check_login(
        username, password, token, endpoint, ca_file=ca_file, timeout=timeout or DEFAULT_TIMEOUT
    )


def _valid_block(check: LoginCheck, finding: Finding | None) -> str:
    rows = [
        ("Result", "valid (Salesforce accepted the password and this token)"),
        ("Username", check.username),
        ("Instance", check.instance_url or "(not stated)"),
        ("User ID", check.user_id or "(not stated)"),
        ("Org ID", check.organization_id or "(not stated)"),
        ("Session", "logged out" if check.logged_out else "not logged out (expires on its own)"),
    ]
    if finding is not None:
        local = finding.received.astimezone()
        when = f"{local:%Y-%m-%d %H:%M:%S %Z} ({age(finding.received)})"
        rows.append(("Token mail", f"received {when} in {finding.source}"))
    return "\n".join(f"{label + ':':<11} {value}" for label, value in rows)


def verify_found(
    finding: Finding,
    spec: VerifySpec,
    *,
    source: str,
    config: Config,
    username: str | None,
    ca_file: str | None,
    timeout: float | None,
    json_out: bool,
    quiet: bool,
) -> int:
    """``find --verify``: check the finding with one login, print it with the verdict."""
    username = username or finding.username
    if not username:
        raise ConfigError("the token email does not state its username; pass --username")
    profile = profile_for(source, config)[2]
    check = _check(
        username, finding.token, spec.endpoint(), profile, ca_file=ca_file, timeout=timeout
    )
    if json_out:
        data = finding.to_dict() | {"valid": check.token_valid, "verify": check.to_dict()}
        click.echo(json.dumps(data, ensure_ascii=False))
    elif quiet:
        click.echo(finding.token)
        if check.outcome is not Outcome.VALID:
            click.echo(f"inbox-finder: error: {check.summary()}", err=True)
    else:
        click.echo(f"{human(finding)}\n{'Login:':<10} {check.summary()}")
    return int(check.exit_code)


# ---------------------------------------------------------------- scan glue


class ScanVerifier:
    """A scan action: one login per new token, remembered so watch never repeats a login."""

    def __init__(
        self,
        spec: VerifySpec,
        profile: Mapping[str, Any],
        ca_file: str | None,
        timeout: float | None,
    ) -> None:
        self._endpoint = spec.endpoint()
        self._profile, self._ca_file, self._timeout = profile, ca_file, timeout
        self._passwords: dict[str, str] = {}
        self._verdicts: dict[tuple[str, str], LoginCheck | str] = {}

    @staticmethod
    def _key(finding: Finding) -> tuple[str, str]:
        digest = hashlib.sha256(finding.token.encode()).hexdigest()
        return (finding.username or "").casefold(), digest

    def __call__(self, finding: Finding) -> None:
        """Verify ``finding`` once (runs before the other actions)."""
        key = self._key(finding)
        if key not in self._verdicts:
            self._verdicts[key] = self._verify(finding)

    def _verify(self, finding: Finding) -> LoginCheck | str:
        username = finding.username
        if not username:
            return "the token email does not state its username"
        try:
            password = self._passwords.get(username) or salesforce_password(username, self._profile)
            self._passwords[username] = password
            check = _check(
                username,
                finding.token,
                self._endpoint,
                self._profile,
                password=password,
                ca_file=self._ca_file,
                timeout=self._timeout,
            )
        except InboxFinderError as exc:
            log.warning("cannot verify the new token of %s: %s", username, exc)
            return str(exc)
        if check.outcome is not Outcome.VALID:
            log.warning("new token: %s", check.summary())
        return check

    def _verdict(self, finding: Finding) -> LoginCheck | str:
        return self._verdicts.get(self._key(finding), "not verified")

    def env(self, finding: Finding) -> dict[str, str]:
        """INBOX_FINDER_TOKEN_VALID (yes / no / unknown) and INBOX_FINDER_VERIFY_RESULT."""
        verdict = self._verdict(finding)
        valid = verdict.token_valid if isinstance(verdict, LoginCheck) else None
        result = verdict.outcome.value if isinstance(verdict, LoginCheck) else "unknown"
        return {
            "INBOX_FINDER_TOKEN_VALID": {True: "yes", False: "no", None: "unknown"}[valid],
            "INBOX_FINDER_VERIFY_RESULT": result,
        }

    def fields(self, finding: Finding) -> dict[str, Any]:
        """JSON fields: ``valid`` (true / false / null) and the ``verify`` details."""
        verdict = self._verdict(finding)
        if isinstance(verdict, LoginCheck):
            return {"valid": verdict.token_valid, "verify": verdict.to_dict()}
        return {"valid": None, "verify": {"result": "unknown", "valid": None, "error": verdict}}

    def line(self, finding: Finding) -> str:
        """The ``Login:`` line of the human output."""
        verdict = self._verdict(finding)
        text = verdict.summary() if isinstance(verdict, LoginCheck) else f"unknown ({verdict})"
        return f"{'Login:':<10} {text}"


def scan_verifier(
    spec: VerifySpec | None, source: str, config: Config, opts: Mapping[str, Any]
) -> ScanVerifier | None:
    """The verifying action for ``scan/watch --verify`` (None without --verify)."""
    if spec is None:
        return None
    profile = profile_for(source, config)[2]
    return ScanVerifier(spec, profile, opts["ca_file"], opts["timeout"])


# ---------------------------------------------------------------- commands


@click.command("verify", epilog=ONE_LOGIN)
@click.argument("source", required=False)
@selection_options
@folder_options
@endpoint_options
@click.option("--json", "json_out", is_flag=True, help="Print the verdict as JSON (any outcome).")
@source_options
@trust_options
@click.pass_context
def verify_cmd(
    ctx: click.Context,
    source: str | None,
    username: str | None,
    since: str | None,
    folders: tuple[str, ...],
    exclude_folders: tuple[str, ...],
    login_url: str | None,
    sandbox: bool,
    my_domain: str | None,
    json_out: bool,
    ca_file: str | None,
    timeout: float | None,
    verify_dkim: bool,
) -> int:
    """Check with ONE Salesforce login that the newest token for USERNAME works.

    The token is the newest one for --username in SOURCE, or read from stdin when SOURCE is
    omitted or -. The Salesforce password comes from $INBOX_FINDER_SF_PASSWORD, the profile's
    sf_password_env / sf_password_cmd, the keyring (service inbox-finder-salesforce, user
    USERNAME) or a prompt, never from argv. The login goes to login.salesforce.com (or
    --sandbox, --my-domain, --login-url); a successful session is logged out at once. Neither
    the token nor the session id is printed.

    Exit codes: 0 valid, 6 INVALID_LOGIN (token or password wrong), 7
    LOGIN_MUST_USE_SECURITY_TOKEN, 8 API login not allowed, 9 password expired, 10 locked out,
    11 refused otherwise, 4 Salesforce unreachable or TLS error, 1 no token email, 2 usage,
    3 no password.
    """
    endpoint = VerifySpec(login_url, sandbox, my_domain).endpoint()
    finding: Finding | None = None
    password: str | None = None
    if source is None or source == "-":
        if not username:
            raise click.UsageError("--username is required when the token comes from stdin")
        if since or folders or exclude_folders:
            raise click.UsageError("--since, --folder and --exclude-folder need a SOURCE")
        profile: Mapping[str, Any] = {}
        token = _read_token()
    else:
        config = load_config(ctx.obj["config_path"])
        profile = profile_for(source, config)[2]
        default = profile.get("username")
        username = username or (str(default) if default else None)
        if username:  # ask for the password before a slow mailbox search
            password = salesforce_password(username, profile)
        finding = find_token(
            source,
            username=username,
            since=since,
            config=config,
            ca_file=ca_file,
            timeout=timeout,
            verify_dkim=verify_dkim,
            folders=folders,
            exclude_folders=exclude_folders,
        )
        username = username or finding.username
        if not username:
            raise ConfigError("the newest token email does not state its username; pass --username")
        token = finding.token
    check = _check(
        username, token, endpoint, profile, password=password, ca_file=ca_file, timeout=timeout
    )
    if json_out:
        data = check.to_dict()
        if finding is not None:
            data |= {"token_received": finding.received.isoformat(), "source": finding.source}
        click.echo(json.dumps(data, ensure_ascii=False))
        return int(check.exit_code)
    if check.outcome is not Outcome.VALID:
        raise LoginRejectedError(check.summary(), check.exit_code, check.outcome.value)
    click.echo(_valid_block(check, finding))
    return 0


@click.command("split")
@click.option(
    "--username",
    "-u",
    metavar="USERNAME",
    help="Salesforce username, to find the password in the keyring and name it in the prompt.",
)
def split_cmd(username: str | None) -> None:
    """Print the security token at the end of a password+token string read from stdin.

    For a token that survives only inside an integration's config ("password =
    mypasswordXXXXXXXX…"): pipe in that one value; the known Salesforce password comes from
    $INBOX_FINDER_SF_PASSWORD, the keyring (service inbox-finder-salesforce, user USERNAME) or a
    prompt. The rest after the password must be 20-30 letters and digits, else exit 1. Nothing
    goes through argv and nothing logs in to Salesforce.
    """
    password = salesforce_password(username)
    combined = _read_secret("Password+token: ")
    click.echo(split_token(combined, password))
