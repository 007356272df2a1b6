"""A small fault-injecting TCP proxy for IMAP tests and benchmarks (no pytest in here).

It listens on 127.0.0.1 (port 0) in front of a server and works in one of two modes:

- **passthrough** (``tls=None``): bytes are forwarded as they are, e.g. IMAPS ciphertext or
  a whole STARTTLS session. It counts wire bytes per direction; faults are byte or time based
  (``Fault(after_server_bytes=N)``: act once the server has sent N bytes).
- **TLS-terminating** (``tls=TlsTermination.from_dir(dovecot.base)``): the proxy completes the
  client's TLS handshake itself with a certificate from the test CA (valid for 127.0.0.1, so a
  client that trusts the CA cannot tell) and opens its own TLS connection to the upstream
  IMAPS port. It sees plaintext IMAP: it counts application bytes and the client's commands
  (``proxy.commands``) and can act *on a command* (LOGIN, UID SEARCH, a BODY.PEEK[] fetch),
  N server bytes after it, or halfway through the first literal the server sends back.

A TLS-terminating proxy speaks implicit TLS to the client only (imaps://); STARTTLS clients go
through a passthrough proxy in front of the plain port. It can also hide capabilities
(``hide_capabilities=["SORT"]``: the server then looks like one without SORT, see
capability_filter.py).

Actions: ``reset`` (RST: SO_LINGER 0, then close, both sides), ``close`` (FIN without TLS
close_notify: a cut, not a goodbye), ``stall`` (keep both sockets open, forward nothing more),
``trickle`` (forward the rest of the server's bytes one at a time, ``interval`` seconds apart:
each read finishes inside a read timeout, so only a total deadline ends the answer), ``pass``
(forward the command unchanged after running ``hook``, e.g. to hold a session for a while).
Connect-time actions (no trigger): ``reset``, ``stall`` (never greet), ``plaintext`` (answer the
ClientHello with a plaintext IMAP greeting), ``garbage`` (answer it with bytes that are not TLS).

Everything is bounded: sockets poll with short timeouts, ``close()`` (or leaving the ``with``
block) stops the acceptor and every connection thread and joins them.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from .capability_filter import CapabilityFilter

Action = Literal["reset", "close", "stall", "trickle", "pass", "plaintext", "garbage"]
POLL = 0.05  # seconds: how quickly threads notice close() and idle sockets
SEND_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 5.0
SETTLE = 0.1  # pause after forwarding a partial response so the client has read it
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n")
_COMMAND = re.compile(rb"^([!#$&'*+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+) ([A-Za-z]+)(?: (.*))?$", re.S)
_REDACT = re.compile(r"^((?:LOGIN|AUTHENTICATE)\b\s*\S*).*$", re.I | re.S)
PLAINTEXT_GREETING = b"* OK [CAPABILITY IMAP4rev1] plaintext IMAP on a TLS port\r\n"
# A TLS record header for a handshake message, then bytes that parse as no handshake at all.
GARBAGE = b"\x16\x03\x03\x00\x20" + bytes(range(0xA0, 0xC0)) + b"\x00garbage\r\n"


@dataclass
class Fault:
    """One fault. Without a trigger it acts when a connection is accepted.

    ``on_command``: regex searched in each client command with the tag stripped, e.g.
    ``r"^LOGIN\\b"`` or ``r"^UID FETCH .*BODY\\.PEEK\\[\\]"`` (TLS-terminating mode only).
    The action then happens before the command is forwarded, unless ``after_server_bytes``
    (forward the command, then N response bytes) or ``mid_literal`` (forward the command, then
    the response up to half of its first literal) defers it.
    ``cut_after`` (with ``mid_literal``): cut right after these bytes inside the literal, e.g.
    in the middle of a token, instead of halfway.
    ``skip`` lets that many triggers pass first; ``times`` is how often it fires (None: always).
    ``hook`` runs in the proxy thread just before the action (e.g. change the mailbox).
    ``interval``: seconds between trickled bytes (``trickle``; ``after_server_bytes=0`` makes
    it trickle a whole connection from its first byte).
    """

    action: Action
    on_command: str | None = None
    after_server_bytes: int | None = None
    mid_literal: bool = False
    cut_after: bytes | None = None
    skip: int = 0
    times: int | None = 1
    hook: Callable[[], None] | None = None
    interval: float = 0.5
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.action in ("plaintext", "garbage") and (self.on_command or self.deferred):
            raise ValueError(f"{self.action} is a connect-time fault: give it no trigger")
        if self.action == "trickle" and not self.deferred:
            raise ValueError("trickle needs after_server_bytes or mid_literal")
        if self.action == "pass" and (self.on_command is None or self.deferred):
            raise ValueError("pass acts on a command, before it is forwarded")
        if self.mid_literal and self.after_server_bytes is not None:
            raise ValueError("mid_literal and after_server_bytes exclude each other")
        if self.cut_after is not None and not self.mid_literal:
            raise ValueError("cut_after needs mid_literal")

    @property
    def deferred(self) -> bool:
        return self.mid_literal or self.after_server_bytes is not None

    @property
    def at_connect(self) -> bool:
        return self.on_command is None


@dataclass(frozen=True)
class TlsTermination:
    """The certificate the proxy shows clients, and the CA it verifies the upstream with."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def from_dir(cls, base: Path) -> TlsTermination:
        """The layout ``inbox_finder.testing.certs.make_certs`` writes: ca.pem, cert.pem, key.pem."""
        return cls(base / "cert.pem", base / "key.pem", base / "ca.pem")


@dataclass
class ConnStats:
    """What one proxied connection carried (application bytes when TLS is terminated)."""

    bytes_up: int = 0  # client -> server
    bytes_down: int = 0  # server -> client
    commands: list[str] = field(default_factory=list)  # LOGIN/AUTHENTICATE arguments redacted
    # Client writes with server bytes between them: the round trips the client waited for
    # (pipelined commands written at once count once; the greeting is not counted).
    round_trips: int = 0


class FaultProxy:
    """A threaded loopback proxy; use as a context manager (see module docstring)."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        tls: TlsTermination | None = None,
        faults: list[Fault] | None = None,
        hide_capabilities: tuple[str, ...] = (),
    ) -> None:
        if hide_capabilities and tls is None:
            raise ValueError("hiding capabilities needs a TLS-terminating proxy")
        self.upstream = upstream
        self.hide_capabilities = hide_capabilities
        self.filters: list[CapabilityFilter] = []  # one per connection, in accept order
        self.faults: list[Fault] = list(faults or [])
        self.connections: list[ConnStats] = []
        self.events: list[str] = []
        self.max_active = 0
        self._tls = tls
        self._active = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server_ctx: ssl.SSLContext | None = None
        self._upstream_ctx: ssl.SSLContext | None = None
        if tls is not None:
            self._server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._server_ctx.load_cert_chain(tls.cert, tls.key)
            self._upstream_ctx = ssl.create_default_context(cafile=str(tls.ca))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)  # closing a socket does not wake accept(): poll
        self.host, self.port = "127.0.0.1", int(self._listener.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._acceptor.start()

    # ---------------------------------------------------------------- public helpers

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, user: str, folder: str | None = None, scheme: str = "imaps") -> str:
        tail = f"/{folder}" if folder else ""
        return f"{scheme}://{user}@{self.where}{tail}"

    @property
    def bytes_up(self) -> int:
        with self._lock:
            return sum(c.bytes_up for c in self.connections)

    @property
    def bytes_down(self) -> int:
        with self._lock:
            return sum(c.bytes_down for c in self.connections)

    @property
    def round_trips(self) -> int:
        """Client-to-server round trips over all connections (see ConnStats.round_trips)."""
        with self._lock:
            return sum(c.round_trips for c in self.connections)

    @property
    def commands(self) -> Counter[str]:
        """Client commands by name over all connections ("LOGIN", "UID FETCH", ...)."""
        with self._lock:
            return Counter(_name(line) for c in self.connections for line in c.commands)

    def count(self, pattern: str) -> int:
        """How many client commands (tag stripped) match ``pattern`` (re.search)."""
        rx = re.compile(pattern)
        with self._lock:
            return sum(1 for c in self.connections for line in c.commands if rx.search(line))

    def close(self) -> None:
        """Stop accepting, end every connection and join all threads (bounded)."""
        self._stop.set()
        self._acceptor.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()
        for thread in list(self._threads):
            thread.join(timeout=5)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"fault proxy threads did not stop: {alive}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _event(self, text: str) -> None:
        with self._lock:
            self.events.append(text)

    def _claim(self, fault: Fault) -> bool:
        """Count a trigger of ``fault``; True if it fires now (skip/times honoured)."""
        with self._lock:
            fault.seen += 1
            if fault.seen <= fault.skip:
                return False
            if fault.times is not None and fault.fired >= fault.times:
                return False
            fault.fired += 1
            return True

    def _accept_loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            stats = ConnStats()
            with self._lock:
                self.connections.append(stats)
            thread = threading.Thread(
                target=self._serve, args=(conn, stats), name=f"fault-proxy-{n}", daemon=True
            )
            n += 1
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket, stats: ConnStats) -> None:
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        sockets: list[socket.socket] = [raw]
        try:
            fault = next(
                (f for f in self.faults if f.at_connect and self._claim(f)),
                None,
            )
            if fault is not None and not fault.deferred:
                self._event(f"{fault.action} at connect")
                self._connect_fault(fault, raw)
                return
            client: socket.socket = raw
            upstream = socket.create_connection(self.upstream, timeout=HANDSHAKE_TIMEOUT)
            sockets.append(upstream)
            if self._server_ctx is not None and self._upstream_ctx is not None:
                raw.settimeout(HANDSHAKE_TIMEOUT)
                client = self._server_ctx.wrap_socket(raw, server_side=True)
                sockets[0] = client
                upstream = self._upstream_ctx.wrap_socket(
                    upstream, server_hostname=self.upstream[0]
                )
                sockets[1] = upstream
            _Pump(self, client, upstream, stats, armed=fault).run()
        except OSError as exc:  # includes ssl.SSLError: a client that gave up, a reset
            self._event(f"connection ended: {type(exc).__name__}")
        finally:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._active -= 1

    def _connect_fault(self, fault: Fault, raw: socket.socket) -> None:
        if fault.hook is not None:
            fault.hook()
        if fault.action == "reset":
            _rst(raw)
            return
        if fault.action == "stall":
            _wait_for_eof(raw, self._stop)
            return
        raw.settimeout(1.0)
        with contextlib.suppress(OSError):
            raw.recv(65536)  # the ClientHello; unread data would turn our close into a RST
        with contextlib.suppress(OSError):
            raw.sendall(PLAINTEXT_GREETING if fault.action == "plaintext" else GARBAGE)
        _wait_for_eof(raw, self._stop, limit=2.0)


class _Pump:
    """Forward one connection in a single thread (one SSL object is never shared by threads)."""

    def __init__(
        self,
        proxy: FaultProxy,
        client: socket.socket,
        upstream: socket.socket,
        stats: ConnStats,
        armed: Fault | None,
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.stats = stats
        self.inspect = isinstance(client, ssl.SSLSocket)
        self.line = b""  # a client command line not complete yet
        self.literal_left = 0  # client literal bytes still to pass through
        self.continued = False  # the next client line continues a command (after a literal)
        self.stalled = False
        self.done = False
        self.heard = True  # the server spoke since the client's last write (the greeting)
        self.armed: Fault | None = None  # a deferred fault waiting for server bytes
        self.budget: int | None = None  # server bytes still to forward before it acts
        self.since_trigger = bytearray()  # server bytes held since the trigger (mid_literal)
        self.cut: int | None = None  # where in since_trigger the mid_literal fault cuts
        self.trickle: float | None = None  # seconds between bytes once a trickle began
        self.backlog = bytearray()  # server bytes not trickled to the client yet
        self.next_drip = 0.0
        self.filter: CapabilityFilter | None = None
        if proxy.hide_capabilities and self.inspect:
            self.filter = CapabilityFilter(proxy.hide_capabilities)
            with proxy._lock:
                proxy.filters.append(self.filter)
        if armed is not None:
            self._arm(armed)

    def run(self) -> None:
        socks = [self.client, self.upstream]
        for sock in socks:
            sock.settimeout(POLL)
        while not self.proxy._stop.is_set() and not self.done:
            ready: list[socket.socket] = [
                s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()
            ]
            if not ready:
                ready = select.select(socks, [], [], POLL)[0]
            self._drip()
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except (TimeoutError, ssl.SSLWantReadError):
                    continue  # half a TLS record, or a TLS 1.3 ticket with no data
                except OSError:
                    data = b""
                if not data:  # EOF or reset: end the pair (a stall keeps the client waiting)
                    if self.stalled and sock is self.upstream:
                        socks.remove(sock)
                        continue
                    return
                if self.stalled:
                    continue
                if sock is self.client:
                    self._from_client(data)
                else:
                    self._from_server(data)
                if self.done:
                    return

    # ---------------------------------------------------------------- client -> server

    def _send_up(self, data: bytes) -> None:
        self.upstream.settimeout(SEND_TIMEOUT)
        self.upstream.sendall(data)
        self.upstream.settimeout(POLL)
        with self.proxy._lock:
            self.stats.bytes_up += len(data)

    def _from_client(self, data: bytes) -> None:
        if self.heard:
            self.heard = False
            with self.proxy._lock:
                self.stats.round_trips += 1
        if not self.inspect:
            self._send_up(data)
            return
        for segment, command in self._segments(data):
            if command is not None:
                self._record(command)
                fault = self._command_fault(command)
                if fault is not None and fault.action == "pass":
                    if fault.hook is not None:
                        fault.hook()
                    fault = None  # forwarded below, like any other command
                if fault is not None:
                    self.proxy._event(f"{fault.action} on {command.split(' ')[0]}")
                    if fault.deferred:
                        self._send_up(segment)
                        self._arm(fault)
                        continue
                    self._act(fault)
                    return
            self._send_up(segment)

    def _segments(self, data: bytes) -> list[tuple[bytes, str | None]]:
        """Split client bytes into whole lines (with the command they start) and literals."""
        out: list[tuple[bytes, str | None]] = []
        i = 0
        while i < len(data):
            if self.literal_left:
                take = min(self.literal_left, len(data) - i)
                out.append((data[i : i + take], None))
                self.literal_left -= take
                i += take
                continue
            end = data.find(b"\n", i)
            if end < 0:
                self.line += data[i:]
                break
            line, self.line = self.line + data[i : end + 1], b""
            i = end + 1
            command = None if self.continued else _command(line)
            literal = _LITERAL.search(line)
            if literal is not None and literal.end() == len(line):
                self.literal_left, self.continued = int(literal.group(1)), True
            else:
                self.continued = False
            out.append((line, command))
        return out

    def _record(self, command: str) -> None:
        with self.proxy._lock:
            self.stats.commands.append(_REDACT.sub(r"\1 [redacted]", command))

    def _command_fault(self, command: str) -> Fault | None:
        for fault in self.proxy.faults:
            matches = fault.on_command is not None and re.search(fault.on_command, command)
            if matches and self.proxy._claim(fault):
                return fault
        return None

    # ---------------------------------------------------------------- server -> client

    def _send_down(self, data: bytes) -> None:
        self.client.settimeout(SEND_TIMEOUT)
        self.client.sendall(data)
        self.client.settimeout(POLL)
        with self.proxy._lock:
            self.stats.bytes_down += len(data)

    def _arm(self, fault: Fault) -> None:
        self.armed, self.since_trigger = fault, bytearray()
        self.budget, self.cut = fault.after_server_bytes, None

    def _from_server(self, data: bytes) -> None:
        self.heard = True
        if self.filter is not None:
            data = self.filter.feed(data)
            if not data:
                return
        if self.trickle is not None:
            self.backlog += data
            return
        fault = self.armed
        if fault is None:
            self._send_down(data)
            return
        if fault.mid_literal:  # hold the response until the cut point is known and reached
            self.since_trigger += data
            if self.cut is None:
                self.cut = self._cut_point(fault)
            if self.cut is None or len(self.since_trigger) < self.cut:
                return
            self._send_down(bytes(self.since_trigger[: self.cut]))
            rest = bytes(self.since_trigger[self.cut :])
        else:
            assert self.budget is not None
            if len(data) < self.budget:
                self.budget -= len(data)
                self._send_down(data)
                return
            self._send_down(data[: self.budget])
            rest = data[self.budget :]
        time.sleep(SETTLE)  # let the client read the partial response before the fault
        self.armed = None
        if fault.action == "trickle":
            self.backlog += rest
        self._act(fault)

    def _drip(self) -> None:
        """Send the next trickled byte when its time has come."""
        if self.trickle is None or not self.backlog or time.monotonic() < self.next_drip:
            return
        self._send_down(bytes(self.backlog[:1]))
        del self.backlog[:1]
        self.next_drip = time.monotonic() + self.trickle

    def _cut_point(self, fault: Fault) -> int | None:
        """Offset in ``since_trigger`` to cut at: inside the first literal, or None (wait)."""
        found = _LITERAL.search(self.since_trigger)
        if found is None:
            return None
        start, size = found.end(), int(found.group(1))
        cut, where = start + size // 2, "halfway"
        if fault.cut_after is not None:
            at = self.since_trigger.find(fault.cut_after, start, start + size)
            if at < 0 and len(self.since_trigger) < start + size:
                return None  # not arrived yet
            if at >= 0:
                cut, where = at + len(fault.cut_after), "right after cut_after"
        self.proxy._event(f"cutting a {size}-byte literal {where} ({cut - start} bytes in)")
        return cut

    # ---------------------------------------------------------------- actions

    def _act(self, fault: Fault) -> None:
        if fault.hook is not None:
            fault.hook()
        if fault.action == "stall":
            self.stalled = True
            return
        if fault.action == "trickle":
            self.trickle, self.next_drip = fault.interval, time.monotonic() + fault.interval
            return
        if fault.action == "reset":
            _rst(self.client)
            _rst(self.upstream)
        else:  # close: FIN without close_notify, like a crashed server
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
        self.done = True


def _command(line: bytes) -> str | None:
    """``UID FETCH 1 (BODY.PEEK[])`` from ``A7 UID FETCH 1 (BODY.PEEK[])\\r\\n``; None if no command."""
    match = _COMMAND.match(line.rstrip(b"\r\n"))
    if match is None:
        return None  # an AUTHENTICATE continuation, DONE, or junk
    verb = match.group(2).decode().upper()
    rest = (match.group(3) or b"").decode("utf-8", "replace")
    if verb == "UID":
        sub, _, rest = rest.partition(" ")
        verb = f"UID {sub.upper()}"
    return f"{verb} {rest}".rstrip()


def _name(command: str) -> str:
    words = command.split(" ")
    return " ".join(words[:2]) if words[0] == "UID" and len(words) > 1 else words[0]


def _rst(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST and drops unsent data."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _wait_for_eof(sock: socket.socket, stop: threading.Event, limit: float | None = None) -> None:
    """Read and drop until the peer closes, the proxy stops, or ``limit`` seconds pass."""
    deadline = None if limit is None else time.monotonic() + limit
    sock.settimeout(POLL)
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        try:
            if not sock.recv(65536):
                return
        except TimeoutError:
            continue
        except OSError:
            return
