"""``find``: print the newest security token found in a SOURCE."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import click

from inbox_finder.api import open_source
from inbox_finder.cli.options import (
    VerifySpec,
    folder_options,
    selection_options,
    source_options,
    trust_options,
    verify_options,
)
from inbox_finder.cli.output import as_json, human, human_all
from inbox_finder.config import load_config
from inbox_finder.dates import parse_duration, parse_since
from inbox_finder.engine import (
    Selection,
    iter_findings,
    merge_copies,
    name_folders,
    newest_per_username,
)
from inbox_finder.errors import NotFoundError
from inbox_finder.model import Finding

log = logging.getLogger("inbox_finder")


def _print_findings(
    findings: Sequence[Finding], *, json_out: bool, quiet: bool, many: bool
) -> None:
    if json_out:
        click.echo(as_json(findings, many))
    elif quiet:
        for finding in findings:
            click.echo(finding.token)
    else:
        click.echo(human_all(findings) if many else human(findings[0]))


@click.command("find")
@click.argument("source")
@selection_options
@folder_options
@click.option("--all", "all_", is_flag=True, help="Every token email, newest first.")
@click.option(
    "--per-username",
    is_flag=True,
    help="The newest token for each username in the mailbox, newest first.",
)
@click.option("--json", "json_out", is_flag=True, help="Print JSON (an array with --all).")
@click.option("--quiet", "-q", is_flag=True, help="Print the token alone.")
@click.option(
    "--wait",
    metavar="DURATION",
    help="Wait up to DURATION (e.g. 10m) for a token email received after this command "
    "started (or after --since): for right after you clicked Reset. Exit 1 on timeout.",
)
@click.option(
    "--interval",
    metavar="DURATION",
    default="15s",
    show_default=True,
    help="How often --wait polls.",
)
@source_options
@trust_options
@verify_options
@click.pass_context
def find_cmd(
    ctx: click.Context,
    source: str,
    username: str | None,
    since: str | None,
    folders: tuple[str, ...],
    exclude_folders: tuple[str, ...],
    all_: bool,
    per_username: bool,
    json_out: bool,
    quiet: bool,
    wait: str | None,
    interval: str,
    ca_file: str | None,
    timeout: float | None,
    verify_dkim: bool,
    verify: VerifySpec | None,
) -> int | None:
    """Print the newest security token found in SOURCE."""
    if json_out and quiet:
        raise click.UsageError("--json and --quiet exclude each other")
    if all_ and per_username:
        raise click.UsageError("--all and --per-username exclude each other")
    if verify is not None and (all_ or per_username):
        raise click.UsageError("--verify checks one token: it excludes --all and --per-username")
    config = load_config(ctx.obj["config_path"])
    since_at = parse_since(since) if since else None
    if wait and since_at is None:
        since_at = datetime.now(UTC).replace(microsecond=0)  # whole seconds, like INTERNALDATE
    deadline = time.monotonic() + parse_duration(wait).total_seconds() if wait else None
    pause = parse_duration(interval).total_seconds()
    while True:
        opened = open_source(
            source,
            config,
            ca_file=ca_file,
            timeout=timeout,
            verify_dkim=verify_dkim,
            folders=folders,
            exclude_folders=exclude_folders,
        )
        selection = Selection(username or opened.default_username, since_at)
        with opened.provider as provider:
            findings = iter_findings(provider, selection, opened.policy)
            if all_:
                found = merge_copies(findings)
            elif per_username:  # folders are named for the findings kept only
                unnamed = iter_findings(provider, selection, opened.policy, named=False)
                found = name_folders(provider, newest_per_username(unnamed))
            else:
                first = next(findings, None)
                found = [first] if first else []
        if found or deadline is None or time.monotonic() + pause > deadline:
            break
        log.info("no token email yet; polling again in %.0fs", pause)
        _progress(deadline - time.monotonic())
        time.sleep(pause)
    if deadline is not None and sys.stderr.isatty():
        click.echo("", err=True)
    if not found:
        who = f" for {selection.username}" if selection.username else ""
        when = f" since {since_at.astimezone():%Y-%m-%d %H:%M %Z}" if since_at else ""
        raise NotFoundError(f"no security token email found{who}{when} in {opened.provider.source}")
    if verify is not None:
        from inbox_finder.cli.verify import (
            verify_found,  # lazy: only --verify needs the SOAP client
        )

        return verify_found(
            found[0],
            verify,
            source=source,
            config=config,
            username=selection.username,
            ca_file=ca_file,
            timeout=timeout,
            json_out=json_out,
            quiet=quiet,
        )
    _print_findings(found, json_out=json_out, quiet=quiet, many=all_ or per_username)
    return None


def _progress(left: float) -> None:
    """A one-line countdown on a terminal (stderr), nothing when piped."""
    if sys.stderr.isatty():
        click.echo(
            f"\rwaiting for the token email… {int(left // 60)}m{int(left % 60):02d}s left ",
            err=True,
            nl=False,
        )
