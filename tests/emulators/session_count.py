"""Count IMAP sessions open at once, between LOGIN and LOGOUT, through a TLS-terminating proxy.

Counting TCP connections at the proxy (``FaultProxy.max_active``) lags: the proxy notices a
closed connection a moment after the client has moved on to its next one, so a client that
never has more than N open can look like N + 1. The client sends LOGOUT before it lets go of
a connection, so counting from LOGIN to LOGOUT is exact. Use ``faults()`` as the proxy's
faults (TLS-terminating mode: the proxy must see commands).
"""

from __future__ import annotations

import threading
import time

from .fault_proxy import Fault


class SessionCount:
    """Sessions open now and at most; each LOGIN may be held ``hold`` seconds to overlap them."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold, self.open, self.peak = hold, 0, 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.open = self.peak = 0

    def _login(self) -> None:
        with self._lock:
            self.open += 1
            self.peak = max(self.peak, self.open)
        if self.hold:
            time.sleep(self.hold)

    def _logout(self) -> None:
        with self._lock:
            self.open -= 1

    def faults(self) -> list[Fault]:
        """Pass-through faults on LOGIN/AUTHENTICATE and LOGOUT that keep the count."""
        return [
            Fault("pass", on_command=r"^(?:LOGIN|AUTHENTICATE)\b", times=None, hook=self._login),
            Fault("pass", on_command=r"^LOGOUT\b", times=None, hook=self._logout),
        ]
