"""``login``: one-time interactive sign-in for the OAuth providers (tokens cached 0600)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from inbox_finder.cli.options import source_options


def _provider_module(name: str) -> Any:
    """Import a provider helper module lazily (it pulls in the Google or Microsoft SDK)."""
    return importlib.import_module(f"inbox_finder.providers.{name}")


@click.group("login")
def login_cmd() -> None:
    """Sign in once so later lookups and scans can refresh tokens silently."""


@login_cmd.command("gmail")
@click.option(
    "--client-secrets",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="OAuth client secrets JSON of a Desktop app (Google Cloud console).",
)
@click.option(
    "--no-browser", is_flag=True, help="Print the sign-in URL instead of opening a browser."
)
@click.option("--account", default="me", show_default=True, help="Gmail account (or me).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to store the credentials (default: the user cache dir; mode 0600).",
)
def login_gmail(client_secrets: Path, no_browser: bool, account: str, out: Path | None) -> None:
    """Sign in to Gmail with the read-only scope gmail.readonly."""
    path = _provider_module("gmail.auth").run_login(
        client_secrets, no_browser=no_browser, out_path=out, account=account
    )
    click.echo(f"saved Gmail credentials to {path}; use gmail://{account} as SOURCE", err=True)


@login_cmd.command("outlook")
@click.option("--client-id", required=True, help="Application (client) ID of your Entra app.")
@click.option(
    "--tenant", default="common", show_default=True, help="Tenant ID or domain (or common)."
)
@click.option("--authority", help="Authority URL (default https://login.microsoftonline.com/T).")
@click.option("--token-cache", type=click.Path(dir_okay=False), help="Token cache file (0600).")
@source_options
def login_outlook(
    client_id: str,
    tenant: str,
    authority: str | None,
    token_cache: str | None,
    ca_file: str | None,
    timeout: float | None,
) -> None:
    """Device-code sign-in to Microsoft 365 with the read-only scope Mail.Read."""
    user = _provider_module("outlook.auth").run_device_code_login(
        client_id, tenant, authority, token_cache, ca_file=ca_file, timeout=timeout or 30.0
    )
    click.echo(f"signed in as {user}; use outlook://me as SOURCE", err=True)
