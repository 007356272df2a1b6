"""Click options shared by every command that opens a SOURCE or selects findings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def source_options(func: F) -> F:
    """Options every command that opens a SOURCE takes."""
    func = click.option(
        "--ca-file",
        type=click.Path(exists=True, dir_okay=False),
        help="Extra CA certificate (PEM) to trust for TLS, e.g. a private mail server's CA.",
    )(func)
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=None,
        metavar="SECONDS",
        help="Network connect/read timeout in seconds (default 30).",
    )(func)


def folder_options(func: F) -> F:
    """--folder / --exclude-folder: restrict the whole-mailbox default scope."""
    func = click.option(
        "--exclude-folder",
        "exclude_folders",
        multiple=True,
        metavar="NAME",
        help="Skip this folder (repeatable; adds to the profile's exclude_folders).",
    )(func)
    return click.option(
        "--folder",
        "folders",
        multiple=True,
        metavar="NAME",
        help="Search only this folder (repeatable; replaces the URL's folder and the "
        "profile's folders). Default: the whole mailbox, trash and junk included.",
    )(func)


def trust_options(func: F) -> F:
    """Options that tighten the trust policy."""
    return click.option(
        "--verify-dkim",
        is_flag=True,
        help="Also require a verifying DKIM signature aligned with the From domain "
        "(needs the dkim extra; looks up keys in DNS). Config: [trust] verify_dkim = true.",
    )(func)


def selection_options(func: F) -> F:
    """Options every command that selects findings takes."""
    func = click.option(
        "--username",
        "-u",
        metavar="USERNAME",
        help="Only tokens for this Salesforce username (e.g. dana@example.com.uat).",
    )(func)
    return click.option(
        "--since",
        metavar="WHEN",
        help="Only mail received since WHEN: an ISO date/time (2024-05-01, "
        "2024-05-01T09:00+02:00; naive = local time) or an age (90m, 12h, 7d, 2w).",
    )(func)


@dataclass(frozen=True)
class VerifySpec:
    """Where to log in: the default login server, a sandbox, a My Domain or an explicit URL."""

    login_url: str | None = None
    sandbox: bool = False
    my_domain: str | None = None

    def endpoint(self) -> str:
        """The SOAP login endpoint (ConfigError for a bad or ambiguous choice)."""
        from inbox_finder.salesforce.login import (
            login_endpoint,  # lazy: the SOAP client pulls in XML and TLS
        )

        return login_endpoint(
            login_url=self.login_url, sandbox=self.sandbox, my_domain=self.my_domain
        )


def endpoint_options(func: F) -> F:
    """--login-url / --sandbox / --my-domain."""
    for option in (
        click.option(
            "--my-domain",
            metavar="NAME",
            help="Log in at https://NAME.my.salesforce.com (e.g. acme, acme--uat.sandbox).",
        ),
        click.option("--sandbox", is_flag=True, help="Log in at https://test.salesforce.com."),
        click.option(
            "--login-url",
            metavar="URL",
            help="Log in at this https URL instead (default https://login.salesforce.com).",
        ),
    ):
        func = option(func)
    return func


def verify_options(func: F) -> F:
    """--verify plus the endpoint options, handed to the command as ``verify: VerifySpec|None``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        verify: bool,
        login_url: str | None,
        sandbox: bool,
        my_domain: str | None,
        **kwargs: Any,
    ) -> Any:
        spec = VerifySpec(login_url, sandbox, my_domain)
        if not verify and spec != VerifySpec():
            raise click.UsageError("--login-url, --sandbox and --my-domain need --verify")
        if verify:
            spec.endpoint()  # a bad choice is a usage error before any mailbox is opened
        return func(*args, verify=spec if verify else None, **kwargs)

    wrapped = endpoint_options(wrapper)
    return click.option(  # type: ignore[return-value]
        "--verify",
        is_flag=True,
        help="Also check the token with ONE Salesforce login (never retried: failed logins "
        "count toward the lockout); password from $INBOX_FINDER_SF_PASSWORD, the profile's "
        "sf_password_env/sf_password_cmd, the keyring or a prompt.",
    )(wrapped)
