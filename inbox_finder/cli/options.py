"""Shared click options: source, selection, trust and verify options, and the global ones.

The global options (--config, --verbose/-v, --debug) are accepted before the subcommand and on
every subcommand; their callbacks record them in ``GlobalState`` and the context object.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from inbox_finder.model import Finding

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=Callable[..., Any] | click.Command)


class GlobalState:
    """This run's --verbose / --debug, wherever they were given (main.py maps errors by it)."""

    verbose = False
    debug = False

    @classmethod
    def reset(cls) -> None:
        """Forget an earlier run in the same process (tests call ``main`` repeatedly)."""
        cls.verbose = cls.debug = False


def setup_logging(verbose: bool, debug: bool) -> None:
    """Log to stderr at DEBUG, INFO (verbose) or WARNING."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("inbox-finder: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _set_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Record a global option; given on a subcommand it adds to what the group was given."""
    obj = ctx.ensure_object(dict)
    if param.name == "config_path":
        if value is not None or "config_path" not in obj:
            obj["config_path"] = value  # the subcommand's --config wins over the group's
        return
    if not value and ctx.parent is not None:
        return
    setattr(GlobalState, str(param.name), bool(value) or getattr(GlobalState, str(param.name)))
    setup_logging(GlobalState.verbose, GlobalState.debug)


def global_options(command: C) -> C:
    """--config, --verbose/-v, --debug; idempotent on a click.Command (added once)."""
    if isinstance(command, click.Command) and any(p.name == "config_path" for p in command.params):
        return command
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            metavar="PATH",
            expose_value=False,
            callback=_set_global,
            help="Config file (TOML). Default: $INBOX_FINDER_CONFIG, else config.toml in the "
            "user config dir.",
        ),
        click.option(
            "--verbose",
            "-v",
            is_flag=True,
            expose_value=False,
            callback=_set_global,
            help="Log progress to stderr.",
        ),
        click.option(
            "--debug",
            is_flag=True,
            expose_value=False,
            callback=_set_global,
            help="Log everything (never secrets) and show tracebacks.",
        ),
    ]
    # A Command gets them appended (after its own options); a function's decorators apply
    # bottom-up, so they go in reverse to keep this order in --help.
    for option in options if isinstance(command, click.Command) else reversed(options):
        command = option(command)
    return command


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Refuse nan, which every comparison (and so FloatRange) lets through."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("not a number of seconds", ctx, param)
    return value


def source_options(func: F) -> F:
    """Options every command that opens a SOURCE takes."""
    func = click.option(
        "--ca-file",
        type=click.Path(exists=True, dir_okay=False),
        help="Extra CA certificate (PEM) to trust for TLS, e.g. a private mail server's CA.",
    )(func)
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.1, max=86400),  # a range check passes nan: see the callback
        callback=_finite,
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

    def for_finding(self, finding: Finding | None) -> tuple[str, str | None]:
        """The endpoint for this token mail, and a note when its ``Sandbox:`` subject chose it.

        An explicit --login-url, --sandbox or --my-domain always wins.
        """
        from inbox_finder.mail.extract import is_sandbox_subject

        chosen = self.login_url or self.sandbox or self.my_domain
        if chosen or finding is None or not is_sandbox_subject(finding.subject):
            return self.endpoint(), None
        endpoint = VerifySpec(sandbox=True).endpoint()
        return endpoint, f"the token mail came from a sandbox: logging in at {endpoint}"


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


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """--shard K/N -> (K, N); a bad one is a usage error (exit 2)."""
    if value is None:
        return None
    from inbox_finder.errors import ConfigError
    from inbox_finder.sources import parse_shard

    try:
        return parse_shard(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def shard_option(func: F) -> F:
    """--shard K/N: only the sources whose stable hash mod N is K."""
    return click.option(
        "--shard",
        metavar="K/N",
        callback=_shard,
        help="Only this worker's part of the sources: those whose sha256 (of the profile "
        "name or URL) mod N is K, so N workers (K = 0..N-1) split them with no overlap.",
    )(func)


def many_options(func: F) -> F:
    """--all-profiles / --jobs / --shard: which of many sources, and how many at once."""
    func = shard_option(func)
    func = click.option(
        "--jobs",
        "-j",
        type=click.IntRange(1, 64),
        metavar="N",
        help="Search at most N sources at once (default: [run] jobs in the config, else 4).",
    )(func)
    return click.option(
        "--all-profiles", is_flag=True, help="Search every [mailbox.NAME] profile in the config."
    )(func)
