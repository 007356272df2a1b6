"""``find``: print the newest security token found in one or more SOURCEs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from inbox_finder.api import find_tokens, wait_for_token
from inbox_finder.boundary.provider import LOCAL_SOURCE, is_local_source
from inbox_finder.cli.options import (
    VerifySpec,
    folder_options,
    many_options,
    selection_options,
    source_options,
    trust_options,
    verify_options,
)
from inbox_finder.cli.output import as_json, human, human_all
from inbox_finder.config import Config, load_config
from inbox_finder.dates import parse_duration, parse_interval, parse_since
from inbox_finder.errors import NotFoundError, PartialSearchError
from inbox_finder.model import Finding
from inbox_finder.sources import expand_sources, in_shard

F = TypeVar("F", bound=Callable[..., Any])


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


def _output_options(func: F) -> F:
    """--all / --per-username / --json / --quiet / --wait / --interval."""
    for option in (
        click.option(
            "--interval",
            metavar="DURATION",
            default="15s",
            show_default=True,
            help="How often --wait polls.",
        ),
        click.option(
            "--wait",
            metavar="DURATION",
            help="Wait up to DURATION (e.g. 10m) for a token email received after this command "
            "started (or after --since): for right after you clicked Reset. Exit 1 on timeout.",
        ),
        click.option("--quiet", "-q", is_flag=True, help="Print the token alone."),
        click.option("--json", "json_out", is_flag=True, help="Print JSON (an array with --all)."),
        click.option(
            "--per-username",
            is_flag=True,
            help="The newest token for each username in the mailbox, newest first.",
        ),
        click.option("--all", "all_", is_flag=True, help="Every token email, newest first."),
    ):
        func = option(func)
    return func


def _report_partial(exc: PartialSearchError, *, json_out: bool, quiet: bool, many: bool) -> int:
    """Each failure on stderr, what the others found on stdout, then a warning and a summary."""
    for failure in exc.failures:
        click.echo(f"inbox-finder: error: {failure}", err=True)
    total = len(exc.failures) + exc.answered
    if exc.findings:
        _print_findings(exc.findings, json_out=json_out, quiet=quiet, many=many)
        click.echo(
            f"inbox-finder: warning: only {exc.answered} of {total} sources could be searched: "
            "a newer token may be in one that failed",
            err=True,
        )
    else:
        click.echo(
            f"inbox-finder: no security token email found in the {exc.answered} of {total} "
            "sources that could be searched",
            err=True,
        )
    click.echo(f"inbox-finder: {len(exc.failures)} of {total} sources failed", err=True)
    return int(exc.exit_code)


@click.command("find")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@selection_options
@folder_options
@_output_options
@many_options
@source_options
@trust_options
@verify_options
@click.pass_context
def find_cmd(
    ctx: click.Context,
    sources: tuple[str, ...],
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
    all_profiles: bool,
    jobs: int | None,
    shard: tuple[int, int] | None,
    ca_file: str | None,
    timeout: float | None,
    verify_dkim: bool,
    verify: VerifySpec | None,
) -> int | None:
    """Print the newest security token found in SOURCE (or in any of several SOURCEs).

    A SOURCE may also name a [group.NAME] of profiles; --all-profiles adds every profile;
    local: is every mail store a desktop client keeps in your home (see `sources`). With no
    SOURCE: the config's default, else local:.
    """
    _refuse_conflicts(json_out, quiet, all_, per_username, verify)
    since_at = parse_since(since) if since else None
    wait_for = parse_duration(wait).total_seconds() if wait else None
    pause = parse_interval(interval)
    config = load_config(ctx.obj["config_path"])
    if not sources and not all_profiles:  # the config's default, else every local store
        sources = (config.default or LOCAL_SOURCE,)
    chosen = _chosen_sources(sources, config, all_profiles, shard)
    if len(chosen) > 1 and (wait_for is not None or verify is not None):
        raise click.UsageError("--wait and --verify take one SOURCE")
    lookup = _Lookup(chosen, config, username, ca_file, timeout, verify_dkim)
    lookup.folders, lookup.exclude_folders, lookup.jobs = folders, exclude_folders, jobs
    lookup.local = len(sources) == 1 and is_local_source(sources[0]) and not all_profiles
    many = all_ or per_username
    found: list[Finding] = []
    if wait_for is not None:
        since_at = since_at or datetime.now(UTC).replace(microsecond=0)  # like INTERNALDATE
        found = [lookup.wait(since_at, wait_for, pause)]
    if not found or many:  # after a wait, --all/--per-username list every mail since then
        try:
            found = lookup.run(since_at, limit=None if many else 1, per_username=per_username)
        except PartialSearchError as exc:
            return _report_partial(exc, json_out=json_out, quiet=quiet, many=many)
    if verify is not None:
        return _verify(found[0], verify, lookup, json_out=json_out, quiet=quiet)
    _finish(found, lookup, json_out=json_out, quiet=quiet, many=many)
    return None


def _finish(
    found: Sequence[Finding], lookup: _Lookup, *, json_out: bool, quiet: bool, many: bool
) -> None:
    """Print the findings; for the local stores, say (on stderr) how far the search went."""
    _print_findings(found, json_out=json_out, quiet=quiet, many=many)
    if lookup.local and not (json_out or quiet):
        click.echo(
            f"inbox-finder: searched the {len(lookup.sources)} local mail store(s) found under "
            "your home (inbox-finder sources lists them); give a SOURCE to search another",
            err=True,
        )


def _verify(
    finding: Finding, spec: VerifySpec, lookup: _Lookup, *, json_out: bool, quiet: bool
) -> int:
    """``--verify``: one login with the token found (one SOURCE only)."""
    from inbox_finder.cli.verify import verify_found  # lazy: only --verify needs SOAP

    return verify_found(
        finding,
        spec,
        source=lookup.sources[0],
        config=lookup.config,
        username=lookup.username,
        ca_file=lookup.ca_file,
        timeout=lookup.timeout,
        json_out=json_out,
        quiet=quiet,
    )


def _chosen_sources(
    sources: Sequence[str], config: Config, all_profiles: bool, shard: tuple[int, int] | None
) -> list[str]:
    """Groups expanded, --all-profiles added, then this shard's part of the list."""
    expanded = expand_sources(sources, config, all_profiles=all_profiles)
    chosen = in_shard(expanded, shard)
    if not chosen:
        where = f"shard {shard[0]}/{shard[1]} holds none of the" if shard else "there are no"
        raise NotFoundError(f"no security token email found: {where} {len(expanded)} source(s)")
    return chosen


def _refuse_conflicts(
    json_out: bool, quiet: bool, all_: bool, per_username: bool, verify: VerifySpec | None
) -> None:
    if json_out and quiet:
        raise click.UsageError("--json and --quiet exclude each other")
    if all_ and per_username:
        raise click.UsageError("--all and --per-username exclude each other")
    if verify is not None and (all_ or per_username):
        raise click.UsageError("--verify checks one token: it excludes --all and --per-username")


class _Lookup:
    """The library calls behind ``find``, with the options every one of them takes."""

    def __init__(
        self,
        sources: list[str],
        config: Config,
        username: str | None,
        ca_file: str | None,
        timeout: float | None,
        verify_dkim: bool,
    ) -> None:
        self.sources, self.config, self.username = sources, config, username
        self.ca_file, self.timeout, self.verify_dkim = ca_file, timeout, verify_dkim
        self.folders: tuple[str, ...] = ()
        self.exclude_folders: tuple[str, ...] = ()
        self.jobs: int | None = None
        self.local = False  # the sources are the discovered local stores (local:)

    def run(
        self, since: datetime | None, *, limit: int | None, per_username: bool
    ) -> list[Finding]:
        """One lookup; NotFoundError (exit 1, with the rejected-mail counts) when empty."""
        try:
            return self._find(since, limit=limit, per_username=per_username)
        except NotFoundError as exc:
            if not self.local:
                raise
            raise NotFoundError(
                f"{exc}; searched {len(self.sources)} local mail store(s) "
                "(inbox-finder sources lists them)",
                exc.rejected,
            ) from None

    def _find(
        self, since: datetime | None, *, limit: int | None, per_username: bool
    ) -> list[Finding]:
        return find_tokens(
            self.sources,
            username=self.username,
            since=since,
            config=self.config,
            ca_file=self.ca_file,
            timeout=self.timeout,
            verify_dkim=self.verify_dkim,
            limit=limit,
            per_username=per_username,
            required=True,
            folders=self.folders,
            exclude_folders=self.exclude_folders,
            jobs=self.jobs,
        )

    def wait(self, since: datetime, seconds: float, interval: float) -> Finding:
        """Poll until a token mail received since ``since`` arrives (a countdown on a tty)."""
        try:
            return wait_for_token(
                self.sources[0],
                timeout=seconds,
                interval=interval,
                username=self.username,
                since=since,
                config=self.config,
                ca_file=self.ca_file,
                network_timeout=self.timeout,
                verify_dkim=self.verify_dkim,
                folders=self.folders,
                exclude_folders=self.exclude_folders,
                on_wait=_progress,
            )
        finally:
            if sys.stderr.isatty():
                click.echo("", err=True)  # end the countdown line


def _progress(left: float) -> None:
    """A one-line countdown on a terminal (stderr), nothing when piped."""
    if sys.stderr.isatty():
        click.echo(
            f"\rwaiting for the token email… {int(left // 60)}m{int(left % 60):02d}s left ",
            err=True,
            nl=False,
        )
