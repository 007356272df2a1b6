"""``report``: the token inventory, one row per Salesforce username, tokens hidden."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from inbox_finder.api import open_source
from inbox_finder.boundary.provider import Provider
from inbox_finder.cli.options import (
    VerifySpec,
    folder_options,
    many_options,
    selection_options,
    source_options,
    trust_options,
    verify_options,
)
from inbox_finder.config import Config, load_config
from inbox_finder.dates import parse_since
from inbox_finder.engine import Selection, Unreadable, iter_findings, warn_unreadable
from inbox_finder.errors import NotFoundError
from inbox_finder.many import Capacity, SearchResult, search_sources
from inbox_finder.model import Finding
from inbox_finder.report import (
    InventoryRow,
    build_inventory,
    render_csv,
    render_json,
    render_table,
    with_verdicts,
)
from inbox_finder.salesforce.retirement import inventory_notices
from inbox_finder.sources import expand_sources, in_shard


@click.command("report")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@selection_options
@folder_options
@many_options
@click.option("--json", "json_out", is_flag=True, help="Print a JSON array of rows.")
@click.option("--csv", "csv_out", is_flag=True, help="Print CSV with a header row.")
@click.option(
    "--show-tokens", is_flag=True, help="Include each username's newest token (hidden by default)."
)
@source_options
@trust_options
@verify_options
@click.pass_context
def report_cmd(
    ctx: click.Context,
    sources: tuple[str, ...],
    username: str | None,
    since: str | None,
    folders: tuple[str, ...],
    exclude_folders: tuple[str, ...],
    all_profiles: bool,
    jobs: int | None,
    shard: tuple[int, int] | None,
    json_out: bool,
    csv_out: bool,
    show_tokens: bool,
    ca_file: str | None,
    timeout: float | None,
    verify_dkim: bool,
    verify: VerifySpec | None,
) -> int | None:
    """Inventory of security tokens per Salesforce username, for planning the move to OAuth.

    One row per username: sandbox or production (as the mail tells), the newest token's
    receive time and age, how many token mails (resets) were seen and the first one's date,
    and where the newest was found. The token itself is printed only with --show-tokens.
    With --verify, ONE login per username checks its newest token (never retried).
    Sources are searched --jobs at a time; one that fails is named on stderr, the others are
    still reported (with a warning that the inventory is incomplete) and the exit code is the
    highest of the failures'.
    """
    if json_out and csv_out:
        raise click.UsageError("--json and --csv exclude each other")
    if not sources and not all_profiles:
        raise click.UsageError("missing SOURCE (a URL, a profile or a group) or --all-profiles")
    config = load_config(ctx.obj["config_path"])
    sources = tuple(in_shard(expand_sources(sources, config, all_profiles=all_profiles), shard))
    since_at = parse_since(since) if since else None
    options = {"ca_file": ca_file, "timeout": timeout, "verify_dkim": verify_dkim}
    scope = {"folders": folders, "exclude_folders": exclude_folders}
    selection = Selection(username, since_at)
    result, profiles = _search(sources, config, selection, jobs, options | scope)
    rows = build_inventory(result.findings)
    for line in inventory_notices():
        click.echo(f"inbox-finder: notice: {line}", err=True)
    for failure in result.failures:
        click.echo(f"inbox-finder: error: {failure}", err=True)
    if not rows and result.complete:
        empty = f"shard {shard[0]}/{shard[1]} (none of the sources)" if shard else "no source"
        where = ", ".join(sources) or empty
        raise NotFoundError(f"no security token email found in {where}")
    if verify is not None:
        rows = _verified(rows, verify, profiles, ca_file, timeout)
    if rows:
        _print(rows, json_out=json_out, csv_out=csv_out, show_tokens=show_tokens)
    return None if result.complete else _incomplete(result)


def _incomplete(result: SearchResult) -> int:
    """Say the inventory misses the failed sources; the highest of their exit codes."""
    total = len(result.sources)
    click.echo(
        f"inbox-finder: warning: the inventory is incomplete: only "
        f"{total - len(result.failures)} of {total} sources could be searched",
        err=True,
    )
    click.echo(f"inbox-finder: {len(result.failures)} of {total} sources failed", err=True)
    return int(result.partial_error().exit_code)


def _print(
    rows: Sequence[InventoryRow], *, json_out: bool, csv_out: bool, show_tokens: bool
) -> None:
    now = datetime.now(UTC)
    if json_out:
        click.echo(render_json(rows, now, show_tokens=show_tokens))
    elif csv_out:
        click.echo(render_csv(rows, now, show_tokens=show_tokens), nl=False)
    else:
        click.echo(render_table(rows, now, show_tokens=show_tokens))


def _search(
    sources: Sequence[str],
    config: Config,
    selection: Selection,
    jobs: int | None,
    options: Mapping[str, Any],
) -> tuple[SearchResult, dict[str, Mapping[str, Any]]]:
    """Every finding of every source (concurrently, failures isolated), and the profile
    each provider's source came from."""
    profiles: dict[str, Mapping[str, Any]] = {}
    unreadable: list[Unreadable] = []

    def lookup(source: str | Provider) -> tuple[list[Finding], Counter[str]]:
        assert isinstance(source, str)  # report's sources are URLs and profile names
        opened = open_source(source, config, **options)
        chosen = Selection(selection.username or opened.default_username, selection.since)
        with opened.provider as provider:
            profiles[provider.source] = opened.profile
            found = iter_findings(provider, chosen, opened.policy, unreadable=unreadable)
            return list(found), Counter()

    capacity = Capacity.of(jobs, config)
    result = search_sources(sources, lookup, selection, capacity, limit=None, per_username=False)
    if result.findings:  # the inventory lists every token mail: each unreadable one is missing
        warn_unreadable(unreadable, result.findings, everything=True)
    return result, profiles


def _verified(
    rows: Sequence[InventoryRow],
    spec: VerifySpec,
    profiles: Mapping[str, Mapping[str, Any]],
    ca_file: str | None,
    timeout: float | None,
) -> list[InventoryRow]:
    """One login per username with its newest token (the same rules as ``verify``)."""
    from inbox_finder.cli.verify import announce
    from inbox_finder.salesforce.retirement import require_login_available
    from inbox_finder.salesforce.verifier import ScanVerifier  # lazy: SOAP client, XML, TLS

    require_login_available()  # after the retirement: exit 12, no login
    announce()
    verdicts: dict[str | None, str] = {}
    for row in rows:
        if not row.username:
            continue  # a legacy mail that names no username cannot be checked
        profile = profiles.get(row.newest.source, {})
        checker = ScanVerifier(spec.for_finding, profile, ca_file, timeout)
        checker(row.newest)  # one login; a failure to check is a verdict too
        verdicts[row.username] = checker.fields(row.newest)["verify"]["result"]
    return with_verdicts(rows, verdicts)
