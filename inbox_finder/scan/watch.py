"""The ``watch`` loop: scan, then wait for server push (IMAP IDLE) or sleep, until stopped.

Nothing here may spin: a scan that fails (mailbox unreachable) and a wait for push that fails
(IDLE refused, connection dropped) are each retried after an exponentially growing pause, and
each logs one warning when it starts failing and one line when it works again — not a line
per failure. A failing wait backs off up to ``--interval``, which is then plain polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from inbox_finder.boundary.provider import Provider
from inbox_finder.errors import AuthError, ConfigError, InboxFinderError, MailboxError
from inbox_finder.scan.runner import ScanResult

log = logging.getLogger("inbox_finder")
MAX_BACKOFF = 3600.0
FIRST_RETRY = 1.0  # the first pause after a failed wait for push

#: ``sleep(seconds, stop)``: pause, returning early once ``stop`` is set (injectable for tests).
Sleep = Callable[[float, threading.Event], object]


def event_sleep(seconds: float, stop: threading.Event) -> None:
    """The real pause: ``stop.wait``, so SIGTERM ends it at once."""
    stop.wait(seconds)


class Backoff:
    """Exponential back-off for one kind of failure, logging only when its state changes."""

    def __init__(self, what: str, first: float, cap: float) -> None:
        self.what, self.first, self.cap = what, first, cap
        self.failures = 0
        self._delay = 0.0

    def failed(self, exc: Exception) -> float:
        """Count a failure and return how long to pause before trying again."""
        self._delay = min(self.cap, self._delay * 2 if self.failures else self.first)
        if not self.failures:
            log.warning(
                "%s failed (%s); retrying with back-off up to %.0fs", self.what, exc, self.cap
            )
        else:
            log.debug("%s failed again (%s); retrying in %.0fs", self.what, exc, self._delay)
        self.failures += 1
        return self._delay

    def succeeded(self) -> None:
        """Reset after a success (one log line if it had been failing)."""
        if self.failures:
            log.warning("%s works again after %d failed attempts", self.what, self.failures)
        self.failures = 0


def watch_loop(
    scan_once: Callable[[], ScanResult],
    waiter: Waiter,
    pause: float,
    stop: threading.Event,
    *,
    sleep: Sleep = event_sleep,
) -> None:
    """Scan until ``stop``; back off while the mailbox is unreachable; log a heartbeat."""
    trouble = Backoff("scanning the mailbox", pause, max(pause, MAX_BACKOFF))
    try:
        while not stop.is_set():
            try:
                result = scan_once()
            except (AuthError, ConfigError):
                raise  # will not fix itself: let the service manager report it
            except MailboxError as exc:
                sleep(trouble.failed(exc), stop)
                continue
            except InboxFinderError as exc:
                log.warning("%s", exc)
            else:
                trouble.succeeded()
                log.info(
                    "heartbeat: %d new, %d failed%s; next check within %.0fs",
                    len(result.reported),
                    len(result.failed),
                    " (unchanged)" if result.unchanged else "",
                    pause,
                )
            waiter.wait(pause, stop)
    finally:
        waiter.close()


class Waiter:
    """Waits between scans: server push (IMAP IDLE) on a connection kept open, else a sleep."""

    def __init__(
        self, open_provider: Callable[[], Provider], *, sleep: Sleep = event_sleep
    ) -> None:
        self._open = open_provider
        self._sleep = sleep
        self._provider: Provider | None = None
        self._push = True
        self._trouble = Backoff("waiting for new mail", FIRST_RETRY, FIRST_RETRY)

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Return after ``seconds``, on ``stop``, or as soon as the server reports new mail.

        A failed wait pauses (exponential back-off, at most ``seconds``) before returning, so
        the next scan and reconnect never follow it at once.
        """
        if self._push:
            trouble = self._trouble
            trouble.first, trouble.cap = min(FIRST_RETRY, seconds), seconds  # capped at --interval
            try:
                if self._provider is None:
                    self._provider = self._open()
                changed = self._provider.wait_for_change(seconds, stop)
            except InboxFinderError as exc:
                self.close()  # reconnect next time
                self._sleep(trouble.failed(exc), stop)
                return
            trouble.succeeded()
            if changed is not None:
                if changed:
                    log.info("the server reports new mail")
                return
            self._push = False  # this mailbox cannot push: poll from now on
            self.close()
        self._sleep(seconds, stop)

    def close(self) -> None:
        """Drop the waiting connection."""
        provider, self._provider = self._provider, None
        if provider is not None:
            provider.close()
