"""``verify`` and ``split``, and the ``--verify`` glue for find and scan: parsing and printing."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
from inbox_finder.errors import ConfigError, LoginRejectedError
from inbox_finder.model import Finding
from inbox_finder.salesforce.credentials import SF_KEYRING_SERVICE as SF_KEYRING_SERVICE
from inbox_finder.salesforce.credentials import SF_PASSWORD_ENV as SF_PASSWORD_ENV
from inbox_finder.salesforce.credentials import TOKEN_RE, salesforce_password, split_token
from inbox_finder.salesforce.login import LoginCheck, Outcome
from inbox_finder.salesforce.retirement import login_notices, require_login_available
from inbox_finder.salesforce.verifier import check_token

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


# ---------------------------------------------------------------- rendering


def announce(*notes: str | None) -> list[str]:
    """Print the retirement notice and ``notes`` on stderr, once each; return them for JSON."""
    lines = [*login_notices(), *(n for n in notes if n)]
    for line in lines:
        click.echo(f"inbox-finder: notice: {line}", err=True)
    return lines


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
    require_login_available()
    profile = profile_for(source, config)[2]
    endpoint, note = spec.for_finding(finding)
    notices = announce(note)
    check = check_token(
        username, finding.token, endpoint, profile, ca_file=ca_file, timeout=timeout
    )
    if json_out:
        data = finding.to_dict() | {"valid": check.token_valid, "verify": check.to_dict()}
        data["notices"] = notices
        click.echo(json.dumps(data, ensure_ascii=False))
    elif quiet:
        click.echo(finding.token)
        if check.outcome is not Outcome.VALID:
            click.echo(f"inbox-finder: error: {check.summary()}", err=True)
    else:
        click.echo(f"{human(finding)}\n{'Login:':<10} {check.summary()}")
    return int(check.exit_code)


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
    11 refused otherwise, 12 login check no longer possible (SOAP login() retired), 4 Salesforce
    unreachable or TLS error, 1 no token email, 2 usage, 3 no password.
    """
    require_login_available()  # after Salesforce's retirement of login(): exit 12, no login
    spec = VerifySpec(login_url, sandbox, my_domain)
    spec.endpoint()  # a bad --login-url is exit 2 before the mailbox is searched
    if source is None or source == "-":
        target = _stdin_target(username, since or folders or exclude_folders)
    else:
        config = load_config(ctx.obj["config_path"])
        scope = (folders, exclude_folders)
        target = _mailbox_target(
            source, config, username, since, scope, ca_file, timeout, verify_dkim
        )
    endpoint, note = spec.for_finding(target.finding)
    notices = announce(note)
    check = check_token(
        target.username,
        target.token,
        endpoint,
        target.profile,
        password=target.password,
        ca_file=ca_file,
        timeout=timeout,
    )
    return _report(check, target.finding, json_out, notices)


@dataclass(frozen=True)
class _Target:
    """What one ``verify`` checks: whose token, and where it came from."""

    username: str
    token: str = field(repr=False)
    profile: Mapping[str, Any] = field(default_factory=dict)
    password: str | None = field(default=None, repr=False)
    finding: Finding | None = None


def _stdin_target(username: str | None, narrowed: object) -> _Target:
    if not username:
        raise click.UsageError("--username is required when the token comes from stdin")
    if narrowed:
        raise click.UsageError("--since, --folder and --exclude-folder need a SOURCE")
    return _Target(username, _read_token())


def _mailbox_target(
    source: str,
    config: Config,
    username: str | None,
    since: str | None,
    scope: tuple[tuple[str, ...], tuple[str, ...]],
    ca_file: str | None,
    timeout: float | None,
    verify_dkim: bool,
) -> _Target:
    """The newest token for ``username`` in ``source`` (the password asked for first)."""
    profile = profile_for(source, config)[2]
    default = profile.get("username")
    username = username or (str(default) if default else None)
    # Ask for the password before a slow mailbox search.
    password = salesforce_password(username, profile) if username else None
    finding = find_token(
        source,
        username=username,
        since=since,
        config=config,
        ca_file=ca_file,
        timeout=timeout,
        verify_dkim=verify_dkim,
        folders=scope[0],
        exclude_folders=scope[1],
    )
    username = username or finding.username
    if not username:
        raise ConfigError("the newest token email does not state its username; pass --username")
    return _Target(username, finding.token, profile, password, finding)


def _report(check: LoginCheck, finding: Finding | None, json_out: bool, notices: list[str]) -> int:
    """Print the verdict (JSON for every outcome); a refusal is one error line."""
    if json_out:
        data = check.to_dict() | {"notices": notices}
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
