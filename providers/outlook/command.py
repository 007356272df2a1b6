"""``inbox-finder login outlook``: the Outlook provider's login command (declared on the provider).

Only click is imported here; MSAL loads when the command runs, not for ``--help``.
"""

from __future__ import annotations

import click

from inbox_finder.cli.options import source_options


@click.command("outlook")
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
    from .auth import run_device_code_login  # lazy: MSAL is loaded by the login

    user = run_device_code_login(
        client_id, tenant, authority, token_cache, ca_file=ca_file, timeout=timeout or 30.0
    )
    click.echo(f"signed in as {user}; use outlook://me as SOURCE", err=True)
