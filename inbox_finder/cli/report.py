"""``report``: the token inventory, one row per Salesforce username, tokens hidden."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from inbox_finder.api import open_source
from inbox_finder.cli.options import (
    selection_options,
    shard_option,
    source_options,
    trust_options,
)
from inbox_finder.config import load_config
from inbox_finder.dates import parse_since
from inbox_finder.engine import Selection, iter_findings
from inbox_finder.errors import NotFoundError
from inbox_finder.many import expand_sources, in_shard
from inbox_finder.model import Finding
from inbox_finder.report import build_inventory, render_csv, render_json, render_table
from inbox_finder.salesforce.retirement import inventory_notices


@click.command("report")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@selection_options
@click.option("--all-profiles", is_flag=True, help="Every [mailbox.NAME] profile in the config.")
@shard_option
@click.option("--json", "json_out", is_flag=True, help="Print a JSON array of rows.")
@click.option("--csv", "csv_out", is_flag=True, help="Print CSV with a header row.")
@click.option(
    "--show-tokens", is_flag=True, help="Include each username's newest token (hidden by default)."
)
@source_options
@trust_options
@click.pass_context
def report_cmd(
    ctx: click.Context,
    sources: tuple[str, ...],
    username: str | None,
    since: str | None,
    all_profiles: bool,
    shard: tuple[int, int] | None,
    json_out: bool,
    csv_out: bool,
    show_tokens: bool,
    ca_file: str | None,
    timeout: float | None,
    verify_dkim: bool,
) -> None:
    """Inventory of security tokens per Salesforce username, for planning the move to OAuth.

    One row per username: sandbox or production (as the mail tells), the newest token's
    receive time and age, how many token mails (resets) were seen and the first one's date,
    and where the newest was found. The token itself is printed only with --show-tokens.
    """
    if json_out and csv_out:
        raise click.UsageError("--json and --csv exclude each other")
    if not sources and not all_profiles:
        raise click.UsageError("missing SOURCE (a URL, a profile or a group) or --all-profiles")
    config = load_config(ctx.obj["config_path"])
    sources = tuple(in_shard(expand_sources(sources, config, all_profiles=all_profiles), shard))
    since_at = parse_since(since) if since else None
    findings: list[Finding] = []
    for source in sources:
        opened = open_source(
            source, config, ca_file=ca_file, timeout=timeout, verify_dkim=verify_dkim
        )
        selection = Selection(username or opened.default_username, since_at)
        with opened.provider as provider:
            findings.extend(iter_findings(provider, selection, opened.policy))
    rows = build_inventory(findings)
    for line in inventory_notices():
        click.echo(f"inbox-finder: notice: {line}", err=True)
    if not rows:
        empty = f"shard {shard[0]}/{shard[1]} (none of the sources)" if shard else "no source"
        where = ", ".join(sources) or empty
        raise NotFoundError(f"no security token email found in {where}")
    now = datetime.now(UTC)
    if json_out:
        click.echo(render_json(rows, now, show_tokens=show_tokens))
    elif csv_out:
        click.echo(render_csv(rows, now, show_tokens=show_tokens), nl=False)
    else:
        click.echo(render_table(rows, now, show_tokens=show_tokens))
