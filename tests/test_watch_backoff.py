"""watch never spins: a wait for push (IMAP IDLE) that keeps failing backs off up to --interval.

The provider here is a stand-in whose ``wait_for_change`` always raises, as a server that
refuses IDLE or drops every connection would; the real IMAP IDLE path is covered against
Dovecot in test_scan_imap.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.errors import MailboxError
from inbox_finder.model import Candidate
from inbox_finder.scan.runner import ScanResult
from inbox_finder.scan.watch import Waiter, watch_loop

INTERVAL = 300.0  # --interval 5m
HOUR = 3600.0


class IdleAlwaysFails(Provider):
    """A mailbox whose every wait for push fails (a dropped connection, IDLE refused)."""

    opened = 0

    def __init__(self) -> None:
        IdleAlwaysFails.opened += 1

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> IdleAlwaysFails:
        return cls()

    def search(self, query: Query) -> Iterator[Candidate]:
        return iter(())

    def fetch(self, candidate: Candidate) -> bytes:
        raise AssertionError("nothing to fetch")

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool | None:
        raise MailboxError("imap.example.com:993: connection dropped during IDLE")

    @property
    def source(self) -> str:
        return "imaps://dana@imap.example.com"


class FakeTime:
    """A clock that only the injected sleep advances; sets ``stop`` once ``until`` is reached."""

    def __init__(self, until: float, stop: threading.Event) -> None:
        self.now = 0.0
        self.until, self.stop = until, stop
        self.sleeps: list[float] = []

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        if self.now >= self.until:
            stop.set()


def run_watch(until: float) -> tuple[list[float], FakeTime]:
    stop = threading.Event()
    fake = FakeTime(until, stop)
    scans: list[float] = []

    def scan_once() -> ScanResult:
        scans.append(fake.now)
        if len(scans) > 10_000:  # the old loop never advanced time: end it, then fail below
            stop.set()
        return ScanResult(unchanged=True)

    waiter = Waiter(IdleAlwaysFails, sleep=fake.sleep)
    watch_loop(scan_once, waiter, INTERVAL, stop, sleep=fake.sleep)
    return scans, fake


def test_failing_idle_backs_off_exponentially_up_to_the_interval() -> None:
    scans, fake = run_watch(until=HOUR)
    # 1, 2, 4, ... 256 s, then every 300 s: about 19 scans in an hour, never a burst.
    assert 10 <= len(scans) <= 25, len(scans)
    gaps = [b - a for a, b in itertools.pairwise(scans)]
    assert all(gap >= 1.0 for gap in gaps), gaps[:10]
    assert max(fake.sleeps) == INTERVAL  # capped at --interval, no more
    growing = fake.sleeps[: fake.sleeps.index(INTERVAL)]
    assert growing == sorted(growing) and growing[0] == 1.0
    assert all(b == 2 * a for a, b in itertools.pairwise(growing))
    # Past the back-off it polls: one scan per interval, as when push is not offered.
    late = [s for s in scans if s > 1000]
    assert len(late) == pytest.approx((HOUR - 1000) / INTERVAL, abs=2)


def test_failing_idle_is_logged_once_not_per_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inbox_finder")
    scans, _ = run_watch(until=HOUR)
    failures = [r for r in caplog.records if "waiting for new mail failed" in r.getMessage()]
    assert len(scans) > 5 and len(failures) == 1
    assert failures[0].levelno == logging.WARNING


def test_failing_idle_does_not_spin_in_real_time() -> None:
    """The real pause (stop.wait): with --interval 5m, one second holds one or two scans."""
    stop = threading.Event()
    scans: list[float] = []

    def scan_once() -> ScanResult:
        scans.append(time.monotonic())
        if len(scans) > 10_000:
            stop.set()
        return ScanResult(unchanged=True)

    thread = threading.Thread(
        target=watch_loop, args=(scan_once, Waiter(IdleAlwaysFails), INTERVAL, stop)
    )
    thread.start()
    time.sleep(1.5)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert 1 <= len(scans) <= 3, f"{len(scans)} scans in 1.5 s with --interval 5m"


def test_a_working_wait_resets_the_back_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inbox_finder")
    stop = threading.Event()
    fake = FakeTime(HOUR, stop)
    outcomes = iter([True, True, True, False])  # three failures, then IDLE works

    class Flaky(IdleAlwaysFails):
        def wait_for_change(self, timeout: float, stop: threading.Event) -> bool | None:
            if next(outcomes, False):
                raise MailboxError("connection dropped during IDLE")
            fake.now += timeout  # IDLE ran its full course: nothing new
            return False

    waiter = Waiter(Flaky, sleep=fake.sleep)
    for _ in range(5):
        waiter.wait(INTERVAL, stop)
    assert fake.sleeps == [1.0, 2.0, 4.0]  # backed off while failing; no pause after IDLE
    messages = [r.getMessage() for r in caplog.records]
    assert sum("waiting for new mail failed" in m for m in messages) == 1
    assert sum("works again after 3 failed attempts" in m for m in messages) == 1
