"""``scan``/``watch`` SOURCE... --state-dir DIR: the CLI side of ``inbox_finder.scan.many``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from inbox_finder.config import Config
from inbox_finder.many import Capacity
from inbox_finder.scan.many import (
    Outcome,
    PollLoop,
    scan_sources,
    serialised,
    state_dir,
    state_file_name,
)
from inbox_finder.scan.runner import Action, ScanResult
from inbox_finder.sources import expand_sources, in_shard, source_label

if TYPE_CHECKING:
    from inbox_finder.cli.scan import ScanOptions

#: ``scan_once(source, opts, actions, report)``: one source's scan with its own options.
ScanOnce = Callable[[str, "ScanOptions", list[Action], Action], ScanResult]


def chosen_sources(sources: Sequence[str], config: Config, opts: ScanOptions) -> list[str]:
    """Groups expanded, --all-profiles added, this shard's part; usage errors for the state."""
    if not sources and not opts.all_profiles:
        raise click.UsageError("missing SOURCE (a URL, a profile or a group) or --all-profiles")
    if opts.state_path and opts.state_dir:
        raise click.UsageError("--state and --state-dir exclude each other")
    expanded = expand_sources(sources, config, all_profiles=opts.all_profiles)
    chosen = in_shard(expanded, opts.shard)
    if len(expanded) > 1 and opts.state_path:
        raise click.UsageError(
            "--state FILE holds one source's state; use --state-dir DIR for several sources "
            "(one state file each)"
        )
    if not opts.state_path and not opts.state_dir:
        raise click.UsageError("missing --state FILE (one source) or --state-dir DIR")
    if len(expanded) > 1 and opts.verify is not None:
        raise click.UsageError("--verify takes one SOURCE")
    if not chosen and opts.shard:
        k, n = opts.shard
        click.echo(
            f"inbox-finder: shard {k}/{n} holds none of the {len(expanded)} sources", err=True
        )
    return chosen


def with_state_file(source: str, opts: ScanOptions) -> ScanOptions:
    """``opts`` with ``state_path`` set: --state, else the source's file in --state-dir."""
    if opts.state_path:
        return opts
    assert opts.state_dir is not None  # chosen_sources refused neither
    return replace(opts, state_path=str(Path(opts.state_dir) / state_file_name(source)))


class ManyScans:
    """Several sources scanned at once: actions and report one at a time (one lock)."""

    def __init__(
        self,
        sources: Sequence[str],
        config: Config,
        opts: ScanOptions,
        scan_once: ScanOnce,
        actions: list[Action],
        report: Action,
    ) -> None:
        assert opts.state_dir is not None
        self.directory = state_dir(opts.state_dir)  # created 0700 before the first scan
        lock = threading.Lock()
        self.sources, self.config, self.opts = list(sources), config, opts
        self._scan_once = scan_once
        self.actions = serialised(actions, lock)
        self.report = serialised([report], lock)[0]

    def scan(self, sources: Sequence[str]) -> list[Outcome]:
        """One round over ``sources``."""
        return scan_sources(
            sources,
            lambda s: self._scan_once(s, with_state_file(s, self.opts), self.actions, self.report),
            Capacity.of(self.opts.jobs, self.config),
        )

    def scan_once(self) -> int:
        """``scan``: every source once; failures on stderr; the highest failing code."""
        return report_outcomes(self.scan(self.sources))

    def watch(self, pause: float, stop: threading.Event) -> None:
        """``watch``: poll every source each ``pause`` (failing ones by their back-off)."""

        def scan_due(sources: Sequence[str]) -> list[Outcome]:
            outcomes = self.scan(sources)
            for outcome in outcomes:
                _action_failures(outcome)
            return outcomes

        PollLoop(self.sources, scan_due, pause).run(stop)


def report_outcomes(outcomes: Sequence[Outcome]) -> int:
    """A line per failing source, then ``N of M sources failed``; the highest exit code."""
    failing = [o for o in outcomes if o.exit_code]
    for outcome in failing:
        if outcome.failure is not None:
            click.echo(f"inbox-finder: error: {outcome.failure}", err=True)
            continue
        _action_failures(outcome)
    if failing:
        click.echo(f"inbox-finder: {len(failing)} of {len(outcomes)} sources failed", err=True)
    return max((o.exit_code for o in outcomes), default=0)


def _action_failures(outcome: Outcome) -> None:
    """A line per failed action of one source (named without secrets)."""
    for finding, exc in outcome.result.failed if outcome.result else ():
        click.echo(
            f"inbox-finder: error: {source_label(outcome.source)}: action failed for "
            f"{finding.username}: {exc}",
            err=True,
        )
