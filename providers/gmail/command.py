"""``inbox-finder login gmail``: the Gmail provider's login command (declared on the provider).

Only click is imported here; the Google SDKs load when the command runs, not for ``--help``.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("gmail")
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
    from .auth import run_login  # lazy: google-auth-oauthlib is loaded by the flow

    path = run_login(client_secrets, no_browser=no_browser, out_path=out, account=account)
    click.echo(f"saved Gmail credentials to {path}; use gmail://{account} as SOURCE", err=True)
