"""``scan`` and ``watch``: report new token mails and hand them to the integration."""

from __future__ import annotations

import functools
import json
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from inbox_finder.api import open_source
from inbox_finder.cli.options import (
    VerifySpec,
    folder_options,
    many_options,
    source_options,
    trust_options,
    verify_options,
)
from inbox_finder.cli.output import age, human
from inbox_finder.cli.scan_many import ManyScans, chosen_sources, with_state_file
from inbox_finder.config import Config, load_config, profile_for
from inbox_finder.dates import parse_duration, parse_interval
from inbox_finder.errors import ExitCode
from inbox_finder.model import Finding
from inbox_finder.scan.actions import EnvTarget, run_exec, secret_env_vars, write_env
from inbox_finder.scan.many import state_dir
from inbox_finder.scan.runner import Action, ScanResult, scan
from inbox_finder.scan.watch import Waiter, watch_loop

if TYPE_CHECKING:  # a plain scan never imports the SOAP/XML stack: see _verifier
    from inbox_finder.salesforce.verifier import ScanVerifier

log = logging.getLogger("inbox_finder")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ScanOptions:
    """The options scan and watch share (the names of scan_options' parameters)."""

    state_path: str | None
    usernames: tuple[str, ...]
    exec_cmd: str | None
    env_targets: tuple[str, ...]
    json_out: bool
    quiet: bool
    exec_timeout: str
    lock_timeout: str
    ca_file: str | None
    timeout: float | None
    verify_dkim: bool
    verify: VerifySpec | None
    folders: tuple[str, ...] = ()
    exclude_folders: tuple[str, ...] = ()
    state_dir: str | None = None
    all_profiles: bool = False
    jobs: int | None = None
    shard: tuple[int, int] | None = None


def _verifier(source: str, config: Config, opts: ScanOptions) -> ScanVerifier | None:
    """The verifying action for ``--verify`` (None without it)."""
    if opts.verify is None:
        return None
    from inbox_finder.salesforce.retirement import login_check_notice
    from inbox_finder.salesforce.verifier import ScanVerifier  # lazy: SOAP client, XML, TLS

    opts.verify.endpoint()  # a bad --login-url is exit 2 before the mailbox is opened
    click.echo(f"inbox-finder: notice: {login_check_notice()}", err=True)  # once per run
    profile = profile_for(source, config)[2]
    return ScanVerifier(opts.verify.for_finding, profile, opts.ca_file, opts.timeout)


def _run_options(func: F) -> F:
    """Time limits and output modes of scan and watch."""
    for option in reversed(
        [
            click.option(
                "--exec-timeout",
                default="300s",
                show_default=True,
                metavar="DURATION",
                help="Kill the --exec command and everything it started after this long "
                "(counts as a failure: exit 5).",
            ),
            click.option(
                "--lock-timeout",
                default="60s",
                show_default=True,
                metavar="DURATION",
                help="Wait this long for another scan holding the state file's lock, then exit 4.",
            ),
            click.option(
                "--json",
                "json_out",
                is_flag=True,
                help="One JSON object per line (no token key when --exec/--write-env deliver it).",
            ),
            click.option(
                "--quiet",
                "-q",
                is_flag=True,
                help="Print nothing on success (errors still go to stderr).",
            ),
        ]
    ):
        func = option(func)
    return func


def scan_options(func: F) -> F:
    """Options shared by scan and watch."""
    func = _run_options(func)
    for option in reversed(
        [
            click.option(
                "--state",
                "state_path",
                type=click.Path(dir_okay=False),
                help="State file of ONE source (fingerprints and sync cursor only, never a "
                "token; created 0600 in a directory that must exist).",
            ),
            click.option(
                "--state-dir",
                type=click.Path(file_okay=False),
                help="Directory of state files, one per source (named from the profile, else "
                "a hash of the URL; created 0700, files 0600): for several sources.",
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
                help="Run CMD (via /bin/sh, on Windows cmd.exe; own process group) once per new "
                "token: INBOX_FINDER_TOKEN, INBOX_FINDER_USERNAME and INBOX_FINDER_RECEIVED in its "
                "environment (mailbox and Salesforce password variables removed), the JSON on "
                "stdin. A failure exits 5 and the token is offered again next run.",
            ),
            click.option(
                "--write-env",
                "env_targets",
                multiple=True,
                metavar="FILE:KEY",
                help="Set KEY=<token> in a dotenv FILE (atomic; a new file 0600, an existing one "
                "keeps owner and mode, a symlink is written through; other lines kept).",
            ),
        ]
    ):
        func = option(func)
    return verify_options(trust_options(source_options(folder_options(many_options(func)))))


def _actions(
    opts: ScanOptions, config: Config, verifier: ScanVerifier | None = None
) -> list[Action]:
    actions: list[Action] = [] if verifier is None else [verifier]  # verify first
    actions += [functools.partial(write_env, EnvTarget.parse(t)) for t in opts.env_targets]
    exec_cmd = opts.exec_cmd
    if exec_cmd:
        timeout = parse_duration(opts.exec_timeout).total_seconds()
        secret_vars = secret_env_vars(config.profiles.values())

        def exec_action(finding: Finding) -> None:
            extra = verifier.env(finding) if verifier is not None else None
            run_exec(exec_cmd, finding, timeout, extra_env=extra, secret_vars=secret_vars)

        actions.append(exec_action)
    return actions


def _deliveries(opts: ScanOptions) -> list[dict[str, Any]]:
    """What a reported finding was handed to (every action succeeded, or it is not reported)."""
    done: list[dict[str, Any]] = [
        {"action": "write-env", "file": str(t.path), "key": t.key}
        for t in map(EnvTarget.parse, opts.env_targets)
    ]
    if opts.exec_cmd:
        done.append({"action": "exec", "status": 0})
    return done


def _delivered_block(finding: Finding, deliveries: Sequence[dict[str, Any]]) -> str:
    """The human report of a delivered token: who, when, where from, where to; no token."""
    local = finding.received.astimezone()
    where = finding.source
    folder = getattr(finding, "folder", None)  # findings name their folder where known
    if folder:
        where += f" (folder {folder})"
    to = "; ".join(
        f"{d['key']} in {d['file']}" if d["action"] == "write-env" else "--exec command exited 0"
        for d in deliveries
    )
    rows = [
        ("Username", finding.username or "(not stated in this mail)"),
        ("Received", f"{local:%Y-%m-%d %H:%M:%S %Z} ({age(finding.received)})"),
        ("Source", where),
        ("Delivered", to),
    ]
    return "\n".join(f"{label + ':':<10} {value}" for label, value in rows)


def _reporter(opts: ScanOptions, verifier: ScanVerifier | None = None) -> Action:
    deliveries = _deliveries(opts)
    json_out = opts.json_out

    def report(finding: Finding) -> None:
        if opts.quiet:
            return
        if json_out:
            data = finding.to_dict()
            if deliveries:  # the token went to the action, not to stdout (cron mail, journal)
                del data["token"]
                data["delivered"] = deliveries
            if verifier is not None:
                data |= verifier.fields(finding)
            click.echo(json.dumps(data, ensure_ascii=False))
            return
        text = _delivered_block(finding, deliveries) if deliveries else human(finding)
        if verifier is not None:
            text += "\n" + verifier.line(finding)
        click.echo(text + "\n")

    return report


def _check_output_options(opts: ScanOptions) -> None:
    if opts.json_out and opts.quiet:
        raise click.UsageError("--json and --quiet exclude each other")
    # A bad duration is exit 2 before the mailbox is opened; a zero --exec-timeout would kill
    # every command at once, while --lock-timeout 0 means "do not wait".
    if parse_duration(opts.exec_timeout).total_seconds() <= 0:
        raise click.BadParameter("must be more than 0s", param_hint="--exec-timeout")
    parse_duration(opts.lock_timeout)


def _scan_once(
    source: str, config: Config, opts: ScanOptions, actions: list[Action], report: Action
) -> ScanResult:
    opened = open_source(
        source,
        config,
        ca_file=opts.ca_file,
        timeout=opts.timeout,
        verify_dkim=opts.verify_dkim,
        folders=opts.folders,
        exclude_folders=opts.exclude_folders,
    )
    usernames = opts.usernames or ((opened.default_username,) if opened.default_username else ())
    assert opts.state_path is not None  # chosen_sources refused a missing --state
    with opened.provider as provider:
        return scan(
            provider,
            Path(opts.state_path).expanduser(),
            usernames=usernames,
            policy=opened.policy,
            actions=actions,
            report=report,
            lock_timeout=parse_duration(opts.lock_timeout).total_seconds(),
        )


def _prepare(
    ctx: click.Context, sources: tuple[str, ...], opts: ScanOptions
) -> tuple[Config, list[str]]:
    """Checked options, the config, and the sources of this shard (usage errors: exit 2)."""
    _check_output_options(opts)
    config = load_config(ctx.obj["config_path"])
    return config, chosen_sources(sources, config, opts)


def _many(sources: list[str], config: Config, opts: ScanOptions) -> ManyScans:
    """Several sources (or --state-dir): one state file each, scanned concurrently."""
    return ManyScans(
        sources,
        config,
        opts,
        lambda source, options, actions, report: _scan_once(
            source, config, options, actions, report
        ),
        _actions(opts, config),
        _reporter(opts),
    )


def _one(chosen: list[str], opts: ScanOptions) -> tuple[str, ScanOptions]:
    """The one source, and its state file (--state, or its file in --state-dir)."""
    if opts.state_dir is not None:
        state_dir(opts.state_dir)  # created 0700 before the first scan
    return chosen[0], with_state_file(chosen[0], opts)


@click.command("scan")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@scan_options
@click.pass_context
def scan_cmd(ctx: click.Context, /, sources: tuple[str, ...], **options: Any) -> int:
    """Report token emails that arrived since the last scan (for cron / systemd timers).

    The first run reports the newest token per username; later runs report only newer ones and
    print nothing when nothing changed. Exit 0 in both cases. With --exec or --write-env the
    report names what was delivered, never the token; without them the token is printed.
    Several SOURCEs (or a group, or --all-profiles) need --state-dir: one state file each.
    """
    opts = ScanOptions(**options)
    config, chosen = _prepare(ctx, sources, opts)
    if opts.state_dir is not None and len(chosen) != 1:
        return _many(chosen, config, opts).scan_once()
    if not chosen:
        return 0  # this shard holds none of the sources: nothing to scan
    source, opts = _one(chosen, opts)
    verifier = _verifier(source, config, opts)
    actions = _actions(opts, config, verifier)
    result = _scan_once(source, config, opts, actions, _reporter(opts, verifier))
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
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@scan_options
@click.option(
    "--interval",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="Time between checks.",
)
@click.pass_context
def watch_cmd(
    ctx: click.Context, /, sources: tuple[str, ...], interval: str, **options: Any
) -> int:
    """Keep scanning SOURCE (for a systemd service); exits cleanly on SIGTERM/SIGINT.

    One SOURCE waits for new mail with IMAP IDLE; several (with --state-dir) are polled, all
    of them every --interval (one connection per source only while it is scanned).
    """
    opts = ScanOptions(**options)
    pause = parse_interval(interval)
    config, chosen = _prepare(ctx, sources, opts)
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if opts.state_dir is not None and len(chosen) != 1:
        _many(chosen, config, opts).watch(pause, stop.event)
        return 0
    if not chosen:
        return 0  # this shard holds none of the sources
    source, opts = _one(chosen, opts)  # one source: IDLE as usual
    verifier = _verifier(source, config, opts)  # remembers verdicts
    actions = _actions(opts, config, verifier)
    report = _reporter(opts, verifier)
    waiter = Waiter(
        lambda: (
            open_source(
                source,
                config,
                ca_file=opts.ca_file,
                timeout=opts.timeout,
                folders=opts.folders,
                exclude_folders=opts.exclude_folders,
            ).provider
        )
    )
    watch_loop(lambda: _scan_once(source, config, opts, actions, report), waiter, pause, stop.event)
    return 0
