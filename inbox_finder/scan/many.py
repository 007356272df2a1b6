"""``scan``/``watch`` over several sources: one state file per source in a state directory.

Each source keeps its own state file, named from its profile name or a hash of its URL (the
password removed first, so neither the name nor the hash depends on a secret). Sources are
scanned ``jobs`` at a time and at most ``per_host`` per server (``inbox_finder.hostcap``); a
source that fails becomes a ``SourceFailure`` and leaves its state file untouched, while the
others are scanned, reported and handed to their actions as usual. The actions and the report
of all sources run one at a time (one lock), so two sources never write one ``--write-env``
file at once and output lines never interleave.

``watch`` with several sources polls: every ``--interval`` it scans every source whose turn
has come. It never holds one IMAP IDLE connection per source: N sources would mean N
connections held open for good, beyond any per-server cap. A failing source is retried with
its own exponential back-off (up to an hour) and logged once when it starts failing and once
when it works again; the others go on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from inbox_finder.errors import ExitCode, InboxFinderError
from inbox_finder.fileutil import make_private_dirs
from inbox_finder.many import Capacity, SourceFailure
from inbox_finder.model import Finding
from inbox_finder.scan.runner import Action, ScanResult
from inbox_finder.scan.state import canonical_source
from inbox_finder.scan.watch import MAX_BACKOFF, Backoff, Sleep, event_sleep
from inbox_finder.sources import source_label

log = logging.getLogger("inbox_finder")
SUFFIX = ".state"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _without_password(url: str) -> str:
    """The URL with any ``:password`` removed from its user part."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}@{host}"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def state_file_name(source: str) -> str:
    """``NAME.state`` for a profile, ``url-<sha256 of the URL without password>.state``."""
    if ":" not in source:
        if _SAFE_NAME.fullmatch(source) and not source.startswith("url-"):
            return source + SUFFIX
        return f"profile-{_digest(source)}{SUFFIX}"  # a name that is no safe file name
    return f"url-{_digest(canonical_source(_without_password(source.strip())))}{SUFFIX}"


def state_dir(path: str | Path) -> Path:
    """The state directory, created 0700 (with missing parents) if it does not exist."""
    directory = Path(path).expanduser()
    make_private_dirs(directory)
    return directory


@dataclass
class Outcome:
    """One source's scan: its result, or why it failed."""

    source: str
    result: ScanResult | None = None
    failure: SourceFailure | None = None

    @property
    def exit_code(self) -> int:
        """0, ACTION (5) if an action failed, else the failure's code."""
        if self.failure is not None:
            return int(self.failure.error.exit_code)
        return int(ExitCode.ACTION) if self.result and self.result.failed else 0


def serialised(actions: Sequence[Action], lock: threading.Lock) -> list[Action]:
    """The actions, each run under ``lock``: one source's action at a time."""

    def guard(action: Action) -> Action:
        def run(finding: Finding) -> None:
            with lock:
                action(finding)

        return run

    return [guard(action) for action in actions]


def scan_sources(
    sources: Sequence[str],
    scan_one: Callable[[str], ScanResult],
    capacity: Capacity,
) -> list[Outcome]:
    """``scan_one`` for every source, as many at once as ``capacity`` allows, isolated."""

    def one(source: str) -> Outcome:
        try:
            return Outcome(source, result=scan_one(source))
        except InboxFinderError as exc:
            return Outcome(source, failure=SourceFailure(source, source_label(source), exc))

    return capacity.run(sources, one)


class PollLoop:
    """``watch`` over several sources: scan those due, sleep ``pause``, until ``stop``."""

    def __init__(
        self,
        sources: Sequence[str],
        scan_due: Callable[[Sequence[str]], list[Outcome]],
        pause: float,
        *,
        sleep: Sleep = event_sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources, self.scan_due, self.pause = list(sources), scan_due, pause
        self.sleep, self.clock = sleep, clock
        cap = max(pause, MAX_BACKOFF)
        self.trouble = {s: Backoff(f"scanning {source_label(s)}", pause, cap) for s in sources}
        self.due = dict.fromkeys(self.sources, 0.0)

    def round(self) -> list[Outcome]:
        """Scan every source whose time has come; schedule failing ones by their back-off."""
        now = self.clock()
        outcomes = self.scan_due([s for s in self.sources if self.due[s] <= now])
        for outcome in outcomes:
            trouble = self.trouble[outcome.source]
            if outcome.failure is not None:
                self.due[outcome.source] = now + trouble.failed(outcome.failure.error)
            else:
                trouble.succeeded()
        new = sum(len(o.result.reported) for o in outcomes if o.result)
        failed = sum(1 for o in outcomes if o.exit_code)
        log.info(
            "heartbeat: %d of %d sources scanned, %d new, %d failing; next check within %.0fs",
            len(outcomes),
            len(self.sources),
            new,
            failed,
            self.pause,
        )
        return outcomes

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` is set (SIGTERM/SIGINT): the current round finishes first."""
        while not stop.is_set():
            self.round()
            self.sleep(self.pause, stop)
