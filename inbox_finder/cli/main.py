"""The ``inbox-finder`` command line: parsing and printing only; the work is in the library."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

import click

from inbox_finder import __version__
from inbox_finder.cli.helptext import MAX_CONTENT_WIDTH
from inbox_finder.cli.options import GlobalState, global_options
from inbox_finder.errors import ExitCode, InboxFinderError, LoginRejectedError, NotFoundError

log = logging.getLogger("inbox_finder")
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, reported with a hint to rerun with --debug


# Subcommands are imported only when run (or asked for help): `--help`, and a cron job's
# `find`, then never pay for verify's XML/TLS stack or the scan machinery.
COMMANDS = {
    "find": ("inbox_finder.cli.find:find_cmd", "Print the newest security token found in SOURCE."),
    "scan": (
        "inbox_finder.cli.scan:scan_cmd",
        "Report token emails that arrived since the last scan.",
    ),
    "watch": ("inbox_finder.cli.scan:watch_cmd", "Keep scanning SOURCE (for a systemd service)."),
    "verify": ("inbox_finder.cli.verify:verify_cmd", "Check a token with ONE Salesforce login."),
    "split": (
        "inbox_finder.cli.verify:split_cmd",
        "Recover the token from a password+token string.",
    ),
    "report": (
        "inbox_finder.cli.report:report_cmd",
        "Inventory of tokens per username (tokens hidden).",
    ),
    "login": (
        "inbox_finder.cli.login:login_cmd",
        "Sign in once to a mailbox that needs OAuth (Gmail, Microsoft 365).",
    ),
    "sources": (
        "inbox_finder.cli.sources:sources_cmd",
        "List the local mail stores `find` searches with no SOURCE.",
    ),
    "config": (
        "inbox_finder.cli.config:config_cmd",
        "Check the config file; list the profile keys of a source.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose subcommands live in other modules, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target[0].partition(":")
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target[0]} is not a click command")
        return global_options(command)  # --config/-v/--debug after the subcommand too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "max_content_width": MAX_CONTENT_WIDTH,
    },
)
@click.version_option(__version__, "--version", prog_name="inbox-finder")
@global_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Find the newest Salesforce security token email in a mailbox, read-only.

    SOURCE is a URL (imaps://USER@HOST[:PORT][/FOLDER], imap://…, maildir:PATH, mbox:PATH,
    eml:DIR, thunderbird:[PROFILE_DIR], gmail://me, outlook://me, local: for every local
    store `sources` lists) or the name of a [mailbox.NAME] profile in the config
    (`inbox-finder config check` validates it). `find` with no SOURCE searches local:.
    --config, --verbose and --debug may also follow the subcommand.

    Exit codes: 0 found, 1 no token email found, 2 usage or configuration error,
    3 authentication failed, 4 mailbox unreachable / TLS / server error, 5 a scan action failed;
    verify: 6 INVALID_LOGIN, 7 login must use a security token, 8 API login not allowed,
    9 password expired, 10 locked out, 11 other login fault, 12 login check retired.
    """
    ctx.ensure_object(dict).setdefault("config_path", None)  # set by the --config callback


def _one_line(text: str) -> str:
    """An error message as one line: a path or value with a line break in it stays readable."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: run the CLI and map errors to documented exit codes."""
    GlobalState.reset()
    try:
        result = cli.main(args=argv, prog_name="inbox-finder", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # one line, like every other error (click prints usage too)
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"inbox-finder: error: {_one_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("inbox-finder: aborted", err=True)
        return 130
    except InboxFinderError as exc:
        # --debug shows where an error came from; "nothing found" and a login verdict are
        # answers, not errors, so they stay one line even then.
        if GlobalState.debug and not isinstance(exc, NotFoundError | LoginRejectedError):
            raise
        click.echo(f"inbox-finder: error: {_one_line(str(exc))}", err=True)
        return int(exc.exit_code)
    except Exception as exc:
        if GlobalState.debug:
            raise
        click.echo(
            f"inbox-finder: internal error ({type(exc).__name__}); "
            "rerun with --debug and report it",
            err=True,
        )
        return INTERNAL_ERROR
    return int(result) if isinstance(result, int) else int(ExitCode.FOUND)


def run() -> None:
    """Run the click command line and exit with its code (the console script's slow path)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
