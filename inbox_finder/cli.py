"""The ``inbox-finder`` command line: parsing and printing only; the work is in the library."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import click

from . import __version__
from .api import open_source
from .cli_login import login_cmd
from .cli_scan import scan_cmd, watch_cmd
from .cli_verify import VerifySpec, split_cmd, verify_cmd, verify_found, verify_options
from .config import load_config
from .dates import parse_duration, parse_since
from .engine import Selection, iter_findings, newest_per_username
from .errors import ExitCode, InboxFinderError, NotFoundError
from .model import Finding
from .options import selection_options, source_options, trust_options
from .output import as_json, human, human_all

log = logging.getLogger("inbox_finder")
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, reported with a hint to rerun with --debug


class _State:
    debug = False


def _setup_logging(verbose: bool, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("inbox-finder: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="inbox-finder")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Config file (TOML). Default: $INBOX_FINDER_CONFIG, else config.toml in the user "
    "config dir.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log progress to stderr.")
@click.option("--debug", is_flag=True, help="Log everything (never secrets) and show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool, debug: bool) -> None:
    """Find the newest Salesforce security token email in a mailbox, read-only.

    SOURCE is a URL (imaps://USER@HOST[:PORT][/FOLDER], imap://…, maildir:PATH, mbox:PATH,
    eml:DIR, gmail://me, outlook://me) or the name of a [mailbox.NAME] profile in the config.

    Exit codes: 0 found, 1 no token email found, 2 usage or configuration error,
    3 authentication failed, 4 mailbox unreachable / TLS / server error, 5 a scan action failed;
    verify: 6 INVALID_LOGIN, 7 login must use a security token, 8 API login not allowed,
    9 password expired, 10 locked out, 11 other login fault.
    """
    _State.debug = debug
    _setup_logging(verbose, debug)
    ctx.obj = {"config_path": config_path}


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


@cli.command()
@click.argument("source")
@selection_options
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
def find(
    ctx: click.Context,
    source: str,
    username: str | None,
    since: str | None,
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
            source, config, ca_file=ca_file, timeout=timeout, verify_dkim=verify_dkim
        )
        selection = Selection(username or opened.default_username, since_at)
        with opened.provider as provider:
            findings = iter_findings(provider, selection, opened.policy)
            if all_:
                found = list(findings)
            elif per_username:
                found = newest_per_username(findings)
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


cli.add_command(scan_cmd)
cli.add_command(watch_cmd)
cli.add_command(login_cmd)
cli.add_command(verify_cmd)
cli.add_command(split_cmd)


def _progress(left: float) -> None:
    """A one-line countdown on a terminal (stderr), nothing when piped."""
    if sys.stderr.isatty():
        click.echo(
            f"\rwaiting for the token email… {int(left // 60)}m{int(left % 60):02d}s left ",
            err=True,
            nl=False,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: run the CLI and map errors to documented exit codes."""
    try:
        result = cli.main(args=argv, prog_name="inbox-finder", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("inbox-finder: aborted", err=True)
        return 130
    except InboxFinderError as exc:
        if _State.debug:
            raise
        click.echo(f"inbox-finder: error: {exc}", err=True)
        return int(exc.exit_code)
    except Exception as exc:
        if _State.debug:
            raise
        click.echo(
            f"inbox-finder: internal error ({type(exc).__name__}); "
            "rerun with --debug and report it",
            err=True,
        )
        return INTERNAL_ERROR
    return int(result) if isinstance(result, int) else int(ExitCode.FOUND)


def run() -> None:
    """``python -m inbox_finder`` and the console script."""
    sys.exit(main())


if __name__ == "__main__":
    run()
