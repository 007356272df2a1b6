"""Benchmark: an idle ``scan --state-dir`` of many mailboxes (real Dovecot), --jobs 1, 8, 32.

Usage (from the repository root; needs Dovecot 2.3)::

    .venv/bin/python -m bench.bench_many                 # 200 mailboxes, 3 runs (~2 min)
    .venv/bin/python -m bench.bench_many --mailboxes 500 --runs 5 --jobs 1,8,16,32

One Dovecot (``inbox_finder.testing.dovecot``) serves one user per mailbox, each with a token
mail and 20 other mails written straight into its Maildir, and a config with one profile per
user. A first ``scan --all-profiles --state-dir DIR`` records every token; the measured runs
are the next, idle ones (nothing new: per mailbox LOGIN, one LIST-STATUS, LOGOUT). Each run is
the real CLI in a child process, so start-up is included. Per variant:

* wall time: median of ``--runs`` runs straight against Dovecot;
* peak RSS and CPU time (user + sys) of the child, from ``wait4``;
* Dovecot's CPU time (its master and the login/imap processes it reaped), from ``/proc``;
* the most IMAP sessions open to the server at once (LOGIN to LOGOUT), from one more run
  through ``tests/emulators/fault_proxy.py`` (``tests/emulators/session_count.py``).

``--jobs 32`` runs twice: with the default ``[run] per_host`` (8: at most 8 connections to the
one server) and with ``per_host = 32``. Prints a Markdown table and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inbox_finder.testing.dovecot import DovecotServer
from inbox_finder.testing.mail import new_token, other_mail, token_mail
from tests.emulators.fault_proxy import FaultProxy, TlsTermination
from tests.emulators.session_count import SessionCount

EXE = Path(sys.executable).with_name("inbox-finder")
END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Row:
    jobs: int
    per_host: int
    wall: float  # median seconds
    rss_mb: float  # peak of the runs
    cpu: float  # median user + sys seconds
    server_cpu: float  # median CPU seconds of Dovecot (master and its reaped children)
    max_conn: int


def server_cpu(srv: DovecotServer) -> float:
    """CPU seconds used so far by Dovecot's master and the children it has reaped."""
    fields = Path(f"/proc/{srv.process.pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def fill(srv: DovecotServer, count: int) -> dict[str, tuple[str, str]]:
    """``count`` users with a token mail and 20 other mails: profile -> (user, password)."""
    users = {}
    for i in range(count):
        user, password = srv.new_user("bm")
        at = END - timedelta(minutes=i)
        mails = [(other_mail(at - timedelta(hours=h)), at - timedelta(hours=h)) for h in range(20)]
        mails.append((token_mail(new_token(), f"u{i}@example.com", at), at))
        srv.bulk_load(user, mails)
        users[f"m{i:04d}"] = (user, password)
    return users


def write_config(
    path: Path,
    srv: DovecotServer,
    users: dict[str, tuple[str, str]],
    *,
    host: str,
    port: int,
    per_host: int | None,
) -> None:
    lines = [f"[run]\nper_host = {per_host}\n"] if per_host else []
    for name, (user, _) in users.items():
        lines.append(
            f'[mailbox.{name}]\nurl = "imaps://{user}@{host}:{port}"\n'
            f'password_env = "BM_{name.upper()}"\nca_file = "{srv.ca_file}"\ntimeout = 30.0\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")


def run_scan(
    config: Path, states: Path, jobs: int, env: dict[str, str]
) -> tuple[float, float, float]:
    """One ``scan --all-profiles`` in a child: (wall s, peak RSS MB, CPU s)."""
    argv = [
        str(EXE),
        "scan",
        "--config",
        str(config),
        "--all-profiles",
        "--state-dir",
        str(states),
        "--jobs",
        str(jobs),
        "-q",
    ]
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"scan failed ({child.returncode}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", default="1,8,32")
    args = parser.parse_args()
    srv = DovecotServer.start()
    try:
        t0 = time.perf_counter()
        users = fill(srv, args.mailboxes)
        print(f"filled {args.mailboxes} mailboxes in {time.perf_counter() - t0:.1f}s", flush=True)
        env = dict(os.environ) | {f"BM_{n.upper()}": pw for n, (_, pw) in users.items()}
        work = Path(tempfile.mkdtemp(prefix="bench-many-"))
        states = work / "states"
        variants = [(int(j), None) for j in args.jobs.split(",")] + [(32, 32)]
        first = work / "first.toml"
        write_config(first, srv, users, host=srv.host, port=srv.imaps_port, per_host=32)
        wall, _, _ = run_scan(first, states, 32, env)  # records every token: later runs idle
        print(f"first scan (records {args.mailboxes} tokens): {wall:.1f}s", flush=True)
        sessions = SessionCount()
        tls = TlsTermination.from_dir(srv.base)
        with FaultProxy((srv.host, srv.imaps_port), tls=tls, faults=sessions.faults()) as proxy:
            # The proxy's port makes other sources (a state file names its URL): own states.
            counted = work / "proxy.toml"
            write_config(counted, srv, users, host=proxy.host, port=proxy.port, per_host=32)
            run_scan(counted, work / "proxy-states", 32, env)
            load_before = os.getloadavg()
            rows = [
                measure(srv, (proxy, sessions), users, work, states, env, j, p, args.runs)
                for j, p in variants
            ]
            load_after = os.getloadavg()
    finally:
        srv.stop()
    print_table(rows, args.mailboxes, load_before, load_after)


def measure(
    srv: DovecotServer,
    counting: tuple[FaultProxy, SessionCount],
    users: dict[str, tuple[str, str]],
    work: Path,
    states: Path,
    env: dict[str, str],
    jobs: int,
    per_host: int | None,
    runs: int,
) -> Row:
    direct = work / f"direct-{jobs}-{per_host}.toml"
    write_config(direct, srv, users, host=srv.host, port=srv.imaps_port, per_host=per_host)
    samples, server = [], []
    for _ in range(runs):
        before = server_cpu(srv)
        samples.append(run_scan(direct, states, jobs, env))
        time.sleep(0.5)  # let the master reap the last login and imap processes
        server.append(server_cpu(srv) - before)
    proxy, sessions = counting
    counted = work / f"proxy-{jobs}-{per_host}.toml"
    write_config(counted, srv, users, host=proxy.host, port=proxy.port, per_host=per_host)
    sessions.reset()
    run_scan(counted, work / "proxy-states", jobs, env)
    max_conn = sessions.peak
    row = Row(
        jobs,
        per_host or 8,
        statistics.median(s[0] for s in samples),
        max(s[1] for s in samples),
        statistics.median(s[2] for s in samples),
        statistics.median(server),
        max_conn,
    )
    print(f"jobs {jobs} per_host {row.per_host}: {row.wall:.2f}s", flush=True)
    return row


def print_table(
    rows: list[Row], count: int, before: tuple[float, ...], after: tuple[float, ...]
) -> None:
    print(
        f"\n{count} idle mailboxes; load average before {before[0]:.2f}, after {after[0]:.2f}"
        f" ({os.cpu_count()} CPUs)\n"
    )
    print(
        "| --jobs | per_host | wall (median) | per mailbox | mailboxes/min | peak RSS | "
        "client CPU | server CPU | max sessions |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.jobs} | {r.per_host} | {r.wall:.2f} s | {r.wall / count * 1000:.1f} ms | "
            f"{count / r.wall * 60:,.0f} | {r.rss_mb:.0f} MB | {r.cpu:.2f} s | "
            f"{r.server_cpu:.2f} s | {r.max_conn} |"
        )


if __name__ == "__main__":
    main()
