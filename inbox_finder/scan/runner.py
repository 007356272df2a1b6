"""Scheduled scans: report token mails that arrived since the last run, run the actions.

An idle scan costs one cheap ``sync_cursor()`` call when the provider supports it; otherwise a
search narrowed by the stored cursor. A finding whose action fails is not recorded, and the
cursor does not advance, so the next run offers it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inbox_finder.boundary.provider import Provider
from inbox_finder.engine import (
    Selection,
    Unreadable,
    iter_findings,
    name_folders,
    newest_per_username,
    warn_unreadable,
)
from inbox_finder.errors import ActionError, ConfigError
from inbox_finder.model import Finding
from inbox_finder.scan.state import LOCK_TIMEOUT, load_state, locked
from inbox_finder.trust.policy import TrustPolicy

log = logging.getLogger(__name__)

Action = Callable[[Finding], None]


@dataclass
class ScanResult:
    """What one scan did."""

    reported: list[Finding] = field(default_factory=list)
    failed: list[tuple[Finding, ActionError]] = field(default_factory=list)
    unchanged: bool = False


def scan(
    provider: Provider,
    state_path: Path,
    *,
    usernames: Sequence[str] = (),
    policy: TrustPolicy | None = None,
    actions: Sequence[Action] = (),
    report: Action | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> ScanResult:
    """Run one scan of ``provider`` against the state in ``state_path`` (locked meanwhile)."""
    wanted = {u.casefold() for u in usernames}
    with locked(state_path, lock_timeout):
        state = load_state(state_path)
        source_key = state.source_key(provider.source)
        if not any(state.belongs_to(s) for s in (provider.source, *provider.source_aliases())):
            raise ConfigError(
                f"state file {state_path} belongs to another source; use one state file per source"
            )
        cursor = provider.sync_cursor()  # taken before searching: later mail is the next run's
        if not state.is_new and cursor is not None and cursor == state.cursor:
            log.info("mailbox unchanged since the last scan")
            return ScanResult(unchanged=True)
        after = None if state.is_new else state.cursor
        unreadable: list[Unreadable] = []
        found = iter_findings(
            provider, Selection(), policy, after, named=False, unreadable=unreadable
        )
        findings = newest_per_username(found)
        # An unreadable token mail newer than a username's newest token may be its new one;
        # one that arrived since the last scan may be the only new token of its username
        # (the body names the username, so it is unknown): each of those is warned about.
        warn_unreadable(unreadable, findings, everything=after is not None)
        if wanted:
            findings = [f for f in findings if (f.username or "").casefold() in wanted]
        fresh = name_folders(provider, [f for f in findings if state.is_new_finding(f)])
        result = ScanResult()
        for finding in reversed(fresh):
            # Oldest first, so the newest token is the last one written to shared targets.
            try:
                for action in actions:
                    action(finding)
            except ActionError as exc:
                log.warning("action failed for %s: %s", finding.username, exc)
                result.failed.append((finding, exc))
                continue
            state.record(finding)
            result.reported.append(finding)
            if report is not None:
                report(finding)
        state.source = source_key
        if not result.failed:
            state.cursor = cursor
        state.save()
        return result
