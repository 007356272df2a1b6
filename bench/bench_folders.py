"""Benchmark: an IMAP lookup and an idle scan over 1, 10 and 50 folders (real Dovecot).

Usage (from the repository root; needs Dovecot 2.3)::

    .venv/bin/python bench/bench_folders.py              # 1, 10, 50 folders, 5 runs (~1 min)
    .venv/bin/python bench/bench_folders.py --folders 1,10,50,200 --runs 7

One Dovecot (``tests/dovecot.py``) serves one fresh user per folder count. Each folder holds
``--per-folder`` messages (default 200: 10 % Salesforce token mails, the rest other mail),
written straight into its Maildir (INTERNALDATE = file mtime); the newest token mail of the
mailbox sits in the *last* folder, so a lookup that stops at INBOX returns a stale token.
A second Dovecot hides LIST-STATUS (and SORT) from its CAPABILITY, for the fallback costs.

Variants, each a fresh connection per run:

* ``whole``      -- ``find_token("imaps://USER@HOST:PORT")``: every folder (the default);
* ``inbox-only`` -- ``find_token("imaps://USER@HOST:PORT/INBOX")``: what earlier versions did;
* ``idle scan``  -- the second of two ``scan`` runs on an unchanged mailbox (state file kept).

Wall time is the median of ``--runs`` runs directly against Dovecot. Round trips (client
commands, LOGIN and LOGOUT included) and bytes come from one more run through
``tests/fault_proxy.py`` (TLS-terminating, so it sees IMAP commands); header blocks and whole
messages fetched come from Dovecot's logout counters. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inbox_finder import find_token
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.scan.runner import scan
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing import dovecot as dovecot_lib
from inbox_finder.testing.dovecot import DovecotServer
from inbox_finder.testing.mail import new_token, other_mail, token_mail
from tests.emulators.fault_proxy import ConnStats, FaultProxy, TlsTermination

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NO_LIST_STATUS = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN\n"


@dataclass
class Box:
    user: str
    password: str
    newest: str  # the newest token of the mailbox (in the last folder)


@dataclass
class Row:
    variant: str
    folders: int
    ms: float
    round_trips: int
    bytes_up: int
    bytes_down: int
    headers: int
    bodies: int
    correct: bool | None


def fill(srv: DovecotServer, folders: int, per_folder: int) -> Box:
    """``folders`` folders of ``per_folder`` messages; the newest token in the last one."""
    user, password = srv.new_user(f"f{folders:03d}-")
    newest = ""
    for i in range(folders):
        name = "INBOX" if i == 0 else f"Projects/Folder {i:03d}"
        mails = []
        for m in range(per_folder):
            when = END - timedelta(days=folders - i, minutes=m)
            if m % 10 == 0:
                token = new_token()
                mails.append((token_mail(token, when=when), when))
                if m == 0:
                    newest = token
            else:
                mails.append((other_mail(m, when), when))
        srv.bulk_load(user, mails, folder=name)
    return Box(user, password, newest)


def counted(
    srv: DovecotServer, box: Box, run: Callable[[str], str | None], warmup: int = 0
) -> tuple[ConnStats, str | None, dict[str, int]]:
    """The last of ``warmup + 1`` runs through one counting proxy, and its Dovecot counters."""
    proxy = FaultProxy((srv.host, srv.imaps_port), tls=TlsTermination.from_dir(srv.base))
    try:
        for _ in range(warmup):
            run(f"{proxy.host}:{proxy.port}")
            time.sleep(1.1)  # let the first scan's cursor settle (see providers/local)
        before = len(srv.logouts(box.user))
        result = run(f"{proxy.host}:{proxy.port}")
        counters = srv.wait_logouts(box.user, before + 1)[-1]
        return proxy.connections[-1], result, counters
    finally:
        proxy.close()


def lookup(box: Box, ca: str, folder: str | None) -> Callable[[str], str | None]:
    def run(where: str) -> str | None:
        os.environ[PASSWORD_ENV] = box.password
        url = f"imaps://{box.user}@{where}" + (f"/{folder}" if folder else "")
        return find_token(url, ca_file=ca).token

    return run


def idle_scan(box: Box, ca: str, state: Path) -> Callable[[str], str | None]:
    def run(where: str) -> str | None:
        os.environ[PASSWORD_ENV] = box.password
        url = f"imaps://{box.user}@{where}"
        with open_provider(url, SourceOptions(ca_file=ca)) as provider:
            result = scan(provider, state)
        return "unchanged" if result.unchanged and not result.reported else "searched"

    return run


def measure(
    srv: DovecotServer, box: Box, variant: str, folders: int, runs: int, state: Path | None
) -> Row:
    direct = f"{srv.host}:{srv.imaps_port}"
    warmup = 0
    if state is None:
        run = lookup(box, srv.ca_file, "INBOX" if variant == "inbox-only" else None)
        expected = box.newest
    else:
        run = idle_scan(box, srv.ca_file, state)
        run(direct)  # the first scan records the state
        expected, warmup = "unchanged", 1
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(direct)
        times.append(time.perf_counter() - started)
    if state is not None:  # the proxy's port is another source: its own state file
        run = idle_scan(box, srv.ca_file, state.with_suffix(".proxy.json"))
    conn, result, counters = counted(srv, box, run, warmup)
    return Row(
        variant,
        folders,
        statistics.median(times) * 1000,
        len(conn.commands),
        conn.bytes_up,
        conn.bytes_down,
        counters.get("hdr_count", 0),
        counters.get("body_count", 0),
        result == expected,
    )


def start_server(extra: str = "") -> DovecotServer:
    if not extra:
        return DovecotServer.start()
    real = dovecot_lib.CONFIG
    dovecot_lib.CONFIG = real + extra.replace("{", "{{")
    try:
        return DovecotServer.start()
    finally:
        dovecot_lib.CONFIG = real


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", default="1,10,50")
    parser.add_argument("--per-folder", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.folders.split(",")]
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="ifbench"))
    for label, extra in (("LIST-STATUS, SORT", ""), ("no LIST-STATUS, no SORT", NO_LIST_STATUS)):
        srv = start_server(extra)
        try:
            for n in counts:
                box = fill(srv, n, args.per_folder)
                print(f"[{label}] {n} folders filled", file=sys.stderr)
                time.sleep(2.1)  # Dovecot re-reads Maildir directories modified within 1 s
                lookup(box, srv.ca_file, None)(f"{srv.host}:{srv.imaps_port}")  # index once
                variants = ("whole", "inbox-only") if not extra else ("whole",)
                for variant in variants:
                    row = measure(srv, box, variant, n, args.runs, None)
                    row.variant = f"{variant} ({label})"
                    rows.append(row)
                state = work / f"{label[:2]}{n}.json"
                row = measure(srv, box, "idle scan", n, args.runs, state)
                row.variant = f"idle scan ({label})"
                rows.append(row)
        finally:
            srv.stop()
    columns = ["variant", "folders", "median ms", "round trips", "bytes up", "bytes down"]
    columns += ["header blocks", "whole messages", "right answer"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        ok = {True: "yes", False: "**no** (stale)", None: "-"}[r.correct]
        print(
            f"| {r.variant} | {r.folders} | {r.ms:.1f} | {r.round_trips} | {r.bytes_up:,} | "
            f"{r.bytes_down:,} | {r.headers} | {r.bodies} | {ok} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
