"""``login SCHEME``: one-time interactive sign-in, for every provider that declares one.

A provider names its click command in ``Provider.login_command`` (``module:attr``); this group
is built from the scheme registry when it runs, so a third-party provider's login appears the
same way. ``login SCHEME`` imports only that provider and its command module; the SDKs load
when the command itself runs.
"""

from __future__ import annotations

import importlib
import logging

import click

from inbox_finder.boundary.registry import available_schemes, provider_class
from inbox_finder.cli.options import global_options
from inbox_finder.errors import ConfigError

log = logging.getLogger(__name__)


def _login_target(scheme: str) -> str | None:
    """The ``module:attr`` of ``scheme``'s login command; None if it has none or is unknown."""
    try:
        return provider_class(scheme).login_command
    except (ConfigError, ImportError) as exc:
        log.debug("scheme %s: no login command (%s)", scheme, exc)
        return None


def login_targets() -> dict[str, str]:
    """Scheme -> login command of every registered provider that declares one."""
    found: dict[str, str] = {}
    for scheme in sorted(available_schemes()):
        target = _login_target(scheme)
        if target and target not in found.values():  # one entry per command, not per alias
            found[scheme] = target
    return found


class LoginGroup(click.Group):
    """``login``'s subcommands: the login commands the providers declare."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(login_targets())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _login_target(cmd_name)
        if target is None:
            if cmd_name in available_schemes():
                known = ", ".join(login_targets()) or "none"
                raise click.UsageError(
                    f"{cmd_name} sources need no login; login commands: {known}", ctx
                )
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr, None)
        if not isinstance(command, click.Command):
            raise ConfigError(f"login command of scheme {cmd_name!r} is not a click command")
        return global_options(command)


@click.group("login", cls=LoginGroup)
def login_cmd() -> None:
    """Sign in once so later lookups and scans can refresh tokens silently.

    Each mailbox kind that signs in with OAuth adds its own command (login gmail,
    login outlook, ...); see `inbox-finder login SCHEME --help`.
    """
