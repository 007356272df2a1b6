"""A real Dovecot (2.3) for tests and benchmarks: own config, CA, users, loopback ports.

No pytest here: ``DovecotServer.start()`` works from any script (benchmarks, manual runs:
``python -m inbox_finder.testing.dovecot``). Certificates need ``cryptography`` (dev extra).
Quirks worth knowing, found the hard way:

- ``base_dir`` must be short (Unix socket paths over ~100 bytes make Dovecot refuse to start),
  so everything lives in a fresh ``mkdtemp()`` directly under /tmp, never a pytest tmp_path.
- As root, processes drop to ``dovecot``/``dovenull``; they must traverse the temp dir, so it is
  made 0755 (mkdtemp creates 0700). The passwd-file is read by the auth process (user dovecot).
- A shared passwd-file is re-read on mtime change but stat()ed at most once a second, so a
  user added right after a lookup would be unknown: each user gets its own passwd-file
  (``users/%u``), which Dovecot opens fresh on the first lookup of that user.
- A failed login costs 2 s (``auth_failure_delay``) and arms anvil's per-IP auth penalty,
  which delays every later login from 127.0.0.1 by 2-15 s: both are switched off (the
  penalty by making its ``anvil-auth-penalty`` socket unusable, the documented way).
- Maildir INTERNALDATE is the file's mtime; ``bulk_load`` relies on that.
- ``imap_logout_format`` logs per-session counters (``body_count`` = messages fetched whole,
  ``appended``/``expunged``...) that tests read back from the log as server-side evidence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient
from imapclient.imap_utf7 import encode as utf7_encode

from inbox_finder.testing.certs import HOST, make_certs
from inbox_finder.testing.dovecot_conf import (
    CONFIG,
    DOVECOT,
    INSTALL_HINT,
    appenduid,
    dovecot_available,
    free_port,
    missing_package,
    port_open,
    require_dovecot,
)

__all__ = [
    "DOVECOT",
    "HOST",
    "INSTALL_HINT",
    "DovecotServer",
    "dovecot_available",
    "free_port",
    "make_certs",
    "missing_package",
    "require_dovecot",
]


_LOGOUT = re.compile(
    r"imap\((?P<user>[^)]+)\)<[^>]*><[^>]*>: Info: (?:Disconnected: )?Logged out (?P<kv>.*)"
)


@dataclass
class DovecotServer:
    """A running Dovecot; create with ``DovecotServer.start()``, end with ``stop()``."""

    base: Path
    imap_port: int
    imaps_port: int
    process: subprocess.Popen[bytes]
    version: str
    users: dict[str, str] = field(default_factory=dict)
    host: str = HOST
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def start(cls, users: dict[str, str] | None = None, timeout: float = 20.0) -> DovecotServer:
        """Start a fresh server on free loopback ports; RuntimeError (with the log) on failure."""
        version = dovecot_available()
        if version is None:
            raise RuntimeError(f"Dovecot is not installed ({DOVECOT} missing)")
        if not version.startswith("2.3"):
            raise RuntimeError(f"this module writes Dovecot 2.3 config; found {version}")
        last: Exception | None = None
        for _attempt in range(3):  # a port grabbed by someone else between free_port() and bind
            base = Path(tempfile.mkdtemp(prefix="ifdc"))
            try:
                return cls._start_in(
                    base, dict(users or {"dana": "secret", "other": "pw2"}), version, timeout
                )
            except RuntimeError as exc:
                last = exc
                shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(str(last))

    @classmethod
    def _start_in(
        cls, base: Path, users: dict[str, str], version: str, timeout: float
    ) -> DovecotServer:
        base.chmod(0o755)
        make_certs(base)
        root = os.geteuid() == 0
        if root:
            internal_user, login_user = "dovecot", "dovenull"
        else:  # unprivileged developer run: everything as ourselves, no chroot possible
            internal_user = login_user = pwd.getpwuid(os.geteuid()).pw_name
        owner = pwd.getpwnam(internal_user)
        mail = base / "mail"
        mail.mkdir(mode=0o755)
        os.chown(mail, owner.pw_uid, owner.pw_gid)
        imap_port, imaps_port = free_port(), free_port()
        while imaps_port == imap_port:
            imaps_port = free_port()
        conf = CONFIG.format(
            tag=base.name,
            base=base,
            host=HOST,
            imap_port=imap_port,
            imaps_port=imaps_port,
            internal_user=internal_user,
            login_user=login_user,
            uid=owner.pw_uid,
            gid=owner.pw_gid,
            login_chroot="" if root else "chroot =",
            anvil_chroot="" if root else "chroot =",
        )
        (base / "dovecot.conf").write_text(conf)
        server_log = base / "dovecot.stderr"
        with server_log.open("wb") as err:
            proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(base / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
            )
        server = cls(
            base=base, imap_port=imap_port, imaps_port=imaps_port, process=proc, version=version
        )
        for name, password in users.items():
            server.add_user(name, password)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"Dovecot exited with {proc.returncode}:\n{server.log_text()}")
            if all(port_open(HOST, p) for p in (imap_port, imaps_port)):
                return server
            time.sleep(0.05)
        server.stop()
        raise RuntimeError(f"Dovecot did not listen within {timeout}s:\n{server.log_text()}")

    def stop(self, remove: bool = True) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and delete its directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if remove:
            shutil.rmtree(self.base, ignore_errors=True)

    def log_text(self) -> str:
        """Dovecot's own log plus its stderr, for error messages."""
        parts = []
        for name in ("dovecot.stderr", "dovecot.log"):
            with contextlib.suppress(OSError):
                parts.append(f"--- {name}\n" + (self.base / name).read_text(errors="replace"))
        return "\n".join(parts)

    # ---------------------------------------------------------------- users and URLs

    @property
    def ca_file(self) -> str:
        return str(self.base / "ca.pem")

    def add_user(self, name: str, password: str) -> None:
        """Add a user (own passwd-file); add each name once, changes may go unnoticed."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or ":" in password or "\n" in password:
            raise ValueError(f"unsupported test user name or password: {name!r}")
        self.users[name] = password
        users = self.base / "users"
        users.mkdir(mode=0o755, exist_ok=True)
        tmp = users / f".{name}.tmp"
        tmp.write_text(f"{name}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(users / name)

    def new_user(self, prefix: str = "u", password: str | None = None) -> tuple[str, str]:
        """Create a fresh user with an empty mailbox (cheaper than resetting one)."""
        n = next(self._counter)
        name = f"{prefix}{n}"
        secret = password if password is not None else f"pw-{name}-{os.urandom(4).hex()}"
        self.add_user(name, secret)
        return name, secret

    def url(self, user: str, folder: str | None = None, *, tls: bool = True) -> str:
        from urllib.parse import quote

        scheme, port = ("imaps", self.imaps_port) if tls else ("imap", self.imap_port)
        tail = "/" + quote(folder, safe="") if folder else ""
        return f"{scheme}://{quote(user, safe='')}@{self.host}:{port}{tail}"

    def home(self, user: str) -> Path:
        return self.base / "mail" / user

    # ---------------------------------------------------------------- IMAP helpers

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    @contextlib.contextmanager
    def client(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in IMAPClient over IMAPS (test side; writes are allowed here)."""
        c = IMAPClient(
            self.host, port=self.imaps_port, ssl=True, ssl_context=self.ssl_context(), timeout=10
        )
        try:
            password = self.users[user]
            if password.isascii():
                c.login(user, password)
            else:  # imaplib's LOGIN is ASCII-only
                c.plain_login(user, password)
            yield c
        finally:
            # The test may have left the connection unusable (server gone, folder deleted).
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                c.logout()

    def append(
        self,
        user: str,
        raw: bytes,
        internaldate: dt.datetime,
        flags: Sequence[str | bytes] = (),
        folder: str = "INBOX",
    ) -> int | None:
        """APPEND one message with a given INTERNALDATE and flags; return its UID if reported."""
        with self.client(user) as c:
            return appenduid(c.append(folder, raw, flags=tuple(flags), msg_time=internaldate))

    def append_many(
        self,
        user: str,
        messages: Iterable[tuple[bytes, dt.datetime] | tuple[bytes, dt.datetime, Sequence[str]]],
        folder: str = "INBOX",
    ) -> list[int | None]:
        """APPEND several messages over one connection, in the given order (UID order)."""
        uids: list[int | None] = []
        with self.client(user) as c:
            if folder != "INBOX" and not c.folder_exists(folder):
                c.create_folder(folder)
            for item in messages:
                raw, when = item[0], item[1]
                flags = tuple(item[2]) if len(item) > 2 else ()
                uids.append(appenduid(c.append(folder, raw, flags=flags, msg_time=when)))
        return uids

    def create_folder(self, user: str, folder: str) -> None:
        """Create a folder (any Unicode name; imapclient encodes modified UTF-7)."""
        with self.client(user) as c:
            c.create_folder(folder)

    def delete_folder(self, user: str, folder: str) -> None:
        with self.client(user) as c:
            c.delete_folder(folder)

    def snapshot(self, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """UID -> flags (minus session-bound \\Recent) of every message, read via EXAMINE."""
        with self.client(user) as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            return {
                uid: tuple(sorted(f for f in d[b"FLAGS"] if f != b"\\Recent"))
                for uid, d in c.fetch(uids, ["FLAGS"]).items()
            }

    def reset(self, user: str) -> None:
        """Empty a user's mailbox: delete every folder but INBOX and expunge INBOX."""
        with self.client(user) as c:
            # Deepest first; a \Noselect parent (virtual in Maildir++) vanishes with its child.
            for _flags, _sep, name in sorted(c.list_folders(), key=lambda f: -len(f[2])):
                if name.upper() != "INBOX" and c.folder_exists(name):
                    c.delete_folder(name)
            c.select_folder("INBOX")
            uids = c.search("ALL")
            if uids:
                c.delete_messages(uids)
                c.expunge()

    # ---------------------------------------------------------------- bulk Maildir loader

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """Maildir++ path of a folder ('/' separator maps to '.', names in modified UTF-7)."""
        root = self.home(user) / "Maildir"
        if folder.upper() == "INBOX":
            return root
        encoded: bytes = utf7_encode(folder)
        return root / ("." + encoded.decode("ascii").replace("/", "."))

    def bulk_load(
        self,
        user: str,
        messages: Iterable[tuple[bytes, dt.datetime]],
        folder: str = "INBOX",
        flags: str = "S",
    ) -> int:
        """Write messages straight into a *not yet opened* Maildir (mtime = INTERNALDATE).

        Thousands of files take well under a second; Dovecot indexes them on first access.
        Use it for fresh users/folders only: an already indexed folder might not notice files
        added within the same second as its last sync.
        """
        owner = pwd.getpwnam(self._internal_user())
        target = self.maildir(user, folder)
        made: list[Path] = []
        for path in (self.home(user), self.home(user) / "Maildir", target):
            if not path.exists():
                path.mkdir(mode=0o700)
                made.append(path)
        for sub in ("cur", "new", "tmp"):
            (target / sub).mkdir(mode=0o700, exist_ok=True)
            made.append(target / sub)
        if target != self.home(user) / "Maildir":
            (target / "maildirfolder").touch()
            made.append(target / "maildirfolder")
        count = 0
        cur = target / "cur"
        for count, (raw, when) in enumerate(messages, start=1):
            stamp = when.timestamp()
            path = cur / f"{int(stamp)}.M{count}P{os.getpid()}.bulk,S={len(raw)}:2,{flags}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.chown(path, owner.pw_uid, owner.pw_gid)
            os.utime(path, (stamp, stamp))
        for path in made:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        return count

    def _internal_user(self) -> str:
        return "dovecot" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    # ---------------------------------------------------------------- log evidence

    def logouts(self, user: str) -> list[dict[str, int]]:
        """Counters from every 'Logged out' line of ``user`` (see imap_logout_format)."""
        out = []
        for line in (self.base / "dovecot.log").read_text(errors="replace").splitlines():
            m = _LOGOUT.search(line)
            if m and m.group("user") == user:
                out.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group("kv"))})
        return out

    def wait_logouts(self, user: str, n: int, timeout: float = 5.0) -> list[dict[str, int]]:
        """Wait until the log holds ``n`` logout lines of ``user`` (the log writer is async)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.logouts(user)
            if len(found) >= n or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


if __name__ == "__main__":  # manual use: python -m inbox_finder.testing.dovecot
    srv = DovecotServer.start()
    print(f"Dovecot {srv.version}: imaps {srv.imaps_port}, imap {srv.imap_port}, ca {srv.ca_file}")
    print(f"users {srv.users}; log {srv.base / 'dovecot.log'}")
    try:
        srv.process.wait()
    except KeyboardInterrupt:
        srv.stop()
