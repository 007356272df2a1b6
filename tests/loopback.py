"""Small helpers for the network-layer tests: a fake clock and a misbehaving loopback server.

No pytest in here. ``FakeClock`` stands in for a retry policy's clock and sleep (pauses are
recorded and advance the clock, nothing sleeps); ``LoopbackServer`` accepts TCP connections on
127.0.0.1 and hands each to ``serve`` in its own thread, and ``close()`` joins them all.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called (or ``now`` is set)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Elapsed:
    """``with Elapsed() as t:`` ... ``t.seconds``: wall time the block took."""

    def __enter__(self) -> Self:
        self.start = time.monotonic()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.start


class LoopbackServer:
    """A threaded TCP server on 127.0.0.1 (port 0); subclasses implement ``serve``."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # closing a socket does not wake accept(): poll
        self.port = int(self._listener.getsockname()[1])
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass  # the client gave up or was cut: what these tests provoke
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
