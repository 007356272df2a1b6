"""``scan`` and ``watch``: report new token mails and hand them to the integration."""

from __future__ import annotations

import functools
import json
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from inbox_finder.api import open_source
from inbox_finder.cli.options import (
    folder_options,
    source_options,
    trust_options,
    verify_options,
)
from inbox_finder.cli.output import human
from inbox_finder.cli.verify import ScanVerifier, scan_verifier
from inbox_finder.config import Config, load_config
from inbox_finder.dates import parse_duration
from inbox_finder.errors import ExitCode
from inbox_finder.model import Finding
from inbox_finder.scan.actions import EnvTarget, run_exec, write_env
from inbox_finder.scan.runner import Action, ScanResult, scan
from inbox_finder.scan.watch import Waiter, watch_loop

log = logging.getLogger("inbox_finder")
F = TypeVar("F", bound=Callable[..., Any])


def scan_options(func: F) -> F:
    """Options shared by scan and watch."""
    for option in reversed(
        [
            click.option(
                "--state",
                "state_path",
                required=True,
                type=click.Path(dir_okay=False),
                help="State file (fingerprints and sync cursor only, never a token; 0600).",
            ),
            click.option(
                "--username",
                "-u",
                "usernames",
                multiple=True,
                metavar="USERNAME",
                help="Only these Salesforce usernames (repeatable). Default: every username.",
            ),
            click.option(
                "--exec",
                "exec_cmd",
                metavar="CMD",
                help="Run CMD (via /bin/sh) once per new token: INBOX_FINDER_TOKEN, "
                "INBOX_FINDER_USERNAME and INBOX_FINDER_RECEIVED in its environment, the JSON "
                "on stdin. A failure exits 5 and the token is offered again next run.",
            ),
            click.option(
                "--write-env",
                "env_targets",
                multiple=True,
                metavar="FILE:KEY",
                help="Set KEY=<token> in a dotenv FILE (atomic, 0600, other lines kept).",
            ),
            click.option("--json", "json_out", is_flag=True, help="One JSON object per line."),
        ]
    ):
        func = option(func)
    return verify_options(trust_options(source_options(folder_options(func))))


def _actions(
    exec_cmd: str | None, env_targets: Sequence[str], verifier: ScanVerifier | None = None
) -> list[Action]:
    actions: list[Action] = [] if verifier is None else [verifier]  # verify first
    actions += [functools.partial(write_env, EnvTarget.parse(t)) for t in env_targets]
    if exec_cmd and verifier is None:
        actions.append(functools.partial(run_exec, exec_cmd))
    elif exec_cmd and verifier is not None:

        def exec_verified(finding: Finding) -> None:
            run_exec(exec_cmd, finding, extra_env=verifier.env(finding))

        actions.append(exec_verified)
    return actions


def _reporter(json_out: bool, verifier: ScanVerifier | None = None) -> Action:
    def report(finding: Finding) -> None:
        if verifier is None:
            click.echo(finding.to_json() if json_out else human(finding) + "\n")
        elif json_out:
            click.echo(json.dumps(finding.to_dict() | verifier.fields(finding), ensure_ascii=False))
        else:
            click.echo(f"{human(finding)}\n{verifier.line(finding)}\n")

    return report


def _scan_once(
    source: str,
    config: Config,
    opts: dict[str, Any],
    actions: list[Action],
    verifier: ScanVerifier | None = None,
) -> ScanResult:
    opened = open_source(
        source,
        config,
        ca_file=opts["ca_file"],
        timeout=opts["timeout"],
        verify_dkim=opts["verify_dkim"],
        folders=opts["folders"],
        exclude_folders=opts["exclude_folders"],
    )
    usernames = opts["usernames"] or ((opened.default_username,) if opened.default_username else ())
    with opened.provider as provider:
        return scan(
            provider,
            Path(opts["state_path"]).expanduser(),
            usernames=usernames,
            policy=opened.policy,
            actions=actions,
            report=_reporter(opts["json_out"], verifier),
        )


@click.command("scan")
@click.argument("source")
@scan_options
@click.pass_context
def scan_cmd(ctx: click.Context, /, source: str, **opts: Any) -> int:
    """Report token emails that arrived since the last scan (for cron / systemd timers).

    The first run reports the newest token per username; later runs report only newer ones and
    print nothing when nothing changed. Exit 0 in both cases.
    """
    config = load_config(ctx.obj["config_path"])
    verifier = scan_verifier(opts["verify"], source, config, opts)
    actions = _actions(opts["exec_cmd"], opts["env_targets"], verifier)
    result = _scan_once(source, config, opts, actions, verifier)
    for finding, exc in result.failed:
        click.echo(f"inbox-finder: error: action failed for {finding.username}: {exc}", err=True)
    return int(ExitCode.ACTION if result.failed else ExitCode.FOUND)


class _Stop:
    """Set by SIGTERM/SIGINT so watch finishes its current step and exits cleanly."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d, stopping", signum)
        self.event.set()


@click.command("watch")
@click.argument("source")
@scan_options
@click.option(
    "--interval",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="Time between checks.",
)
@click.pass_context
def watch_cmd(ctx: click.Context, /, source: str, interval: str, **opts: Any) -> int:
    """Keep scanning SOURCE (for a systemd service); exits cleanly on SIGTERM/SIGINT."""
    config = load_config(ctx.obj["config_path"])
    pause = parse_duration(interval).total_seconds()
    verifier = scan_verifier(opts["verify"], source, config, opts)  # remembers verdicts
    actions = _actions(opts["exec_cmd"], opts["env_targets"], verifier)
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    waiter = Waiter(
        lambda: (
            open_source(
                source,
                config,
                ca_file=opts["ca_file"],
                timeout=opts["timeout"],
                folders=opts["folders"],
                exclude_folders=opts["exclude_folders"],
            ).provider
        )
    )
    watch_loop(
        lambda: _scan_once(source, config, opts, actions, verifier), waiter, pause, stop.event
    )
    return 0
