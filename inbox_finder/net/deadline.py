"""Total deadlines for network exchanges, enforced by the socket itself.

A socket timeout bounds each single wait for bytes, so a peer that trickles one byte just
inside it keeps a read (a FETCH literal, an HTTP body) alive forever. The sockets made here
also bound each *exchange*: everything read after the last bytes we sent (an IMAP command, an
HTTP request), or since the first read (a greeting), must arrive within the socket's own
timeout in total; CPython already bounds a whole TLS handshake by the timeout. Past it a read
raises ``TimeoutError``, which imaplib, http.client, httplib2 and urllib3 already report as a
timeout, so the callers' translations and retries apply unchanged. A non-blocking socket
(timeout 0, as IMAP IDLE polling uses) and a socket without a timeout are left alone.

``adopt`` turns a connected plain socket into one of these; ``DeadlineSSLSocket`` is what an
SSL context built by ``inbox_finder.net.tls`` wraps sockets in.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any


class _Deadlines:
    """Mixin for socket.socket and ssl.SSLSocket: per-read timeout capped by the exchange's end."""

    _base: float | None = None  # the timeout the owner set (gettimeout() reports it)
    _started: float | None = None  # when the current exchange began (None: at the first read)

    def settimeout(self, value: float | None) -> None:
        self._base = value
        super().settimeout(value)  # type: ignore[misc]

    def setblocking(self, flag: bool) -> None:
        self._base = None if flag else 0.0
        super().setblocking(flag)  # type: ignore[misc]

    def gettimeout(self) -> float | None:
        return self._base

    def _arm(self, *, reading: bool) -> bool:
        """Set the OS-level timeout to what is left of the exchange; TimeoutError when none is.

        True when the deadline, not the owner's timeout, is what the next wait is cut to.
        """
        base = self._base
        if not base:  # None (no timeout at all) or 0.0 (non-blocking): not ours to bound
            return False
        left = base
        if reading:
            now = time.monotonic()
            if self._started is None:
                self._started = now
            left = self._started + base - now
            if left <= 0:
                raise TimeoutError(f"no complete answer within {base:g}s")
        super().settimeout(min(base, left))  # type: ignore[misc]
        return left < base

    def _read(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        capped = self._arm(reading=True)
        try:
            return method(*args, **kwargs)
        except TimeoutError:
            if capped:
                raise TimeoutError(f"no complete answer within {self._base:g}s") from None
            raise

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        return self._read(super().recv, *args, **kwargs)  # type: ignore[misc,no-any-return]

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        return self._read(super().recv_into, *args, **kwargs)  # type: ignore[misc,no-any-return]

    def send(self, *args: Any, **kwargs: Any) -> int:
        self._arm(reading=False)
        sent: int = super().send(*args, **kwargs)  # type: ignore[misc]
        self._started = time.monotonic()  # the answer to what was just sent starts now
        return sent

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        self._arm(reading=False)
        super().sendall(*args, **kwargs)  # type: ignore[misc]
        self._started = time.monotonic()


class DeadlineSocket(_Deadlines, socket.socket):
    """A plain TCP socket whose exchanges have a total deadline (see the module docstring)."""


class DeadlineSSLSocket(_Deadlines, ssl.SSLSocket):
    """A TLS socket whose exchanges have a total deadline (CPython bounds the handshake)."""


def adopt(sock: socket.socket) -> DeadlineSocket:
    """The connected plain socket ``sock`` as a DeadlineSocket (``sock`` itself is detached)."""
    if isinstance(sock, DeadlineSocket):
        return sock
    timeout = sock.gettimeout()
    adopted = DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    adopted.settimeout(timeout)  # also resets the descriptor's blocking mode to match
    return adopted
