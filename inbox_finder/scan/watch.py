"""The ``watch`` loop: scan, then wait for server push (IMAP IDLE) or sleep, until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from inbox_finder.boundary.provider import Provider
from inbox_finder.errors import AuthError, ConfigError, InboxFinderError, MailboxError
from inbox_finder.scan.runner import ScanResult

log = logging.getLogger("inbox_finder")
MAX_BACKOFF = 3600.0


def watch_loop(
    scan_once: Callable[[], ScanResult], waiter: Waiter, pause: float, stop: threading.Event
) -> None:
    """Scan until ``stop``; back off while the mailbox is unreachable; log a heartbeat."""
    backoff = pause
    try:
        while not stop.is_set():
            try:
                result = scan_once()
            except (AuthError, ConfigError):
                raise  # will not fix itself: let the service manager report it
            except MailboxError as exc:
                backoff = min(backoff * 2, max(pause, MAX_BACKOFF))
                log.warning("%s; retrying in %.0fs", exc, backoff)
                stop.wait(backoff)
                continue
            except InboxFinderError as exc:
                log.warning("%s", exc)
            else:
                backoff = pause
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

    def __init__(self, open_provider: Callable[[], Provider]) -> None:
        self._open = open_provider
        self._provider: Provider | None = None
        self._push = True

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Return after ``seconds``, on ``stop``, or as soon as the server reports new mail."""
        if self._push:
            try:
                if self._provider is None:
                    self._provider = self._open()
                changed = self._provider.wait_for_change(seconds, stop)
            except InboxFinderError as exc:
                log.info("waiting for new mail failed (%s); reconnecting next time", exc)
                self.close()
                changed = False
            if changed is not None:
                if changed:
                    log.info("the server reports new mail")
                return
            self._push = False  # this mailbox cannot push: poll from now on
            self.close()
        stop.wait(seconds)

    def close(self) -> None:
        """Drop the waiting connection."""
        provider, self._provider = self._provider, None
        if provider is not None:
            provider.close()
