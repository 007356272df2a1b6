"""Benchmark 2: local mbox / Maildir lookups vs mailbox size, side by side with the baseline.

Usage (from the repository root)::

    .venv/bin/python -m bench.bench_local                      # defaults, ~12-15 min
    .venv/bin/python -m bench.bench_local --mbox 20M,200M --maildir 1000,10000 --reps 7
    .venv/bin/python -m bench.bench_local --cold               # plus a cold-cache round, ~20-25 min

For each mailbox (fixtures from ``bench/gen_mailbox.py``, generated on first use under
``/tmp/inbox-finder-bench``) it runs, interleaved and each in its own child process:

* ``cli``  -- ``inbox-finder find mbox:PATH --json`` (wall time includes interpreter start-up);
* ``lib``  -- ``inbox_finder.find_token("mbox:PATH")`` timed inside the child (no start-up);
  for an mbox both use the header index cached by an untimed lookup before the first run
  (the second lookup on an unchanged file);
* ``first`` (mbox only) -- ``lib`` with an empty cache folder: the first lookup on the file,
  which builds its header index in one pass over every byte;
* ``append`` (mbox only) -- ``lib`` after ~1 MiB of mail (ending in a new token mail) was
  appended to a copy of the mbox whose index is cached: only the new end is indexed;
* ``base`` -- the script people write: Python's ``mailbox`` module iterating every message,
  each parsed with ``email.message_from_bytes(policy=default)``, keep the newest one From
  salesforce.com whose subject says "security token", then regex the token out of its body
  (timed inside the child, so it is compared with ``lib``; ``cli`` includes start-up).

Peak RSS of each child comes from ``/usr/bin/time -f %M`` (GNU time) wrapped around it.
Every run's token is checked against the generator's expected answer. The baseline takes
about 2 minutes per run at 2 GB / 100,000 files, so it runs ``--base-reps`` times (default:
3 up to 500 MB / 20,000 files, 1 above). Medians are reported; ratios are baseline median /
ours median.

Before every run the mailbox is read once (untimed) so each run starts with a warm page cache:
this VM's kernel (DAMON ``pageout``) evicts file pages untouched for a while, so without that
the first runs after a long baseline would read from disk. ``--cold`` adds one round per
mailbox with the mailbox's pages evicted from the page cache (``posix_fadvise(DONTNEED)`` on
its files only) before each run, to show I/O-bound costs.
"""

from __future__ import annotations

import argparse
import email
import importlib
import json
import mailbox
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from email import policy
from email.message import Message
from pathlib import Path
from typing import IO, Any, cast

from bench.gen_mailbox import BENCH_DIR, Meta, ensure_maildir, ensure_mbox, parse_size
from bench.mbox_append import append_rounds, tail_batch, work_copy

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("inbox-finder")
NAIVE_TOKEN = re.compile(r"security token[^:\n]*:\s*([A-Za-z0-9]{20,30})", re.IGNORECASE)
BIG_BYTES = 500 << 20
BIG_FILES = 20_000
TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


# --- the children -----------------------------------------------------------------------------


def _parse(fh: IO[bytes]) -> Message:
    return email.message_from_bytes(fh.read(), policy=policy.default)


def naive_lookup(kind: str, path: str) -> str | None:
    """The baseline: iterate and parse every message, keep the newest token mail, regex it."""
    factory = cast(Any, _parse)  # typeshed expects mboxMessage/MaildirMessage factories
    box: Any
    if kind == "mbox":
        box = mailbox.mbox(path, factory=factory, create=False)
    else:
        box = mailbox.Maildir(path, factory=factory, create=False)
    best: tuple[Any, Message] | None = None
    for msg in box:
        sender = str(msg.get("From", "")).lower()
        subject = str(msg.get("Subject", "")).lower()
        if "salesforce.com" not in sender or "security token" not in subject:
            continue
        date_header: Any = msg["Date"]
        date = date_header.datetime
        if best is None or date > best[0]:
            best = (date, msg)
    if best is None:
        return None
    body = best[1].get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    m = NAIVE_TOKEN.search(body.get_content()) if body is not None else None
    return m.group(1) if m else None


def ours_lookup(kind: str, path: str) -> str | None:
    """The library call (what the CLI does, minus start-up and printing)."""
    from inbox_finder import NotFoundError, find_token

    try:
        return find_token(f"{kind}:{path}").token
    except NotFoundError:
        return None


def child(mode: str, kind: str, path: str) -> None:
    """Run one lookup in this process and print {"token", "seconds"} as JSON."""
    if mode == "lib":  # imported before the clock starts, like the baseline's modules
        importlib.import_module("inbox_finder")
    started = time.perf_counter()
    token = naive_lookup(kind, path) if mode == "base" else ours_lookup(kind, path)
    seconds = time.perf_counter() - started
    print(json.dumps({"token": token, "seconds": seconds}))


# --- the parent -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One child run: wall time (external), inner time (measured inside), peak RSS, token."""

    wall: float
    inner: float
    rss_kb: int
    token: str | None


def run_child(cmd: list[str], cache: Path | None = None) -> Run:
    """Run ``cmd``; return its wall time and its own peak RSS.

    The RSS comes from ``/usr/bin/time -f %M`` wrapped around the command: Linux carries
    ``ru_maxrss`` across ``exec``, so a child forked straight from this (large) process would
    report this process's RSS as its own. Without GNU time, ``wait4`` is used (an upper bound).
    ``cache`` is the child's user cache folder (where the mbox header index lives).
    """
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)} if cache else None
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        err_file = Path(tmp) / "err"
        wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *cmd] if TIME else cmd
        with err_file.open("wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=err, cwd=REPO, env=env)
            assert proc.stdout is not None
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode not in (0, 1):
            detail = err_file.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{cmd} exited {proc.returncode}: {detail}")
        rss_kb = usage.ru_maxrss
        if TIME:
            rss_kb = int(rss_file.read_text().split()[-1])
    data = json.loads(out) if out.strip() else {}
    inner = float(data.get("seconds", wall))
    return Run(wall, inner, rss_kb, data.get("token"))


def _cmd(mode: str, kind: str, path: str) -> list[str]:
    if mode == "cli":
        return [str(CLI), "find", f"{kind}:{path}", "--json"]
    child_mode = "base" if mode == "base" else "lib"  # first / append: the library call; cwd: REPO
    return [
        sys.executable,
        "-m",
        "bench.bench_local",
        "--child",
        child_mode,
        kind,
        path,
    ]  # cwd: REPO


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]


def warm(path: Path) -> None:
    """Read the whole mailbox once so it is in the page cache (this VM's kernel pages out
    file pages that were not touched for a while, so "warm" has to be made, not assumed)."""
    buf = bytearray(8 << 20)
    for file in _files(path):
        with file.open("rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def evict(path: Path) -> None:
    """Drop this mailbox's pages from the page cache (its files only; nothing global)."""
    for file in _files(path):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


@dataclass
class Row:
    """Results for one mailbox."""

    kind: str
    label: str
    count: int
    bytes: int
    expected: str
    runs: dict[str, list[Run]] = field(default_factory=dict)
    cold: dict[str, Run] = field(default_factory=dict)
    appended: list[tuple[str, Run]] = field(default_factory=list)  # (expected token, run)

    def med(self, mode: str, attr: str = "inner") -> float:
        return float(statistics.median(getattr(r, attr) for r in self.runs[mode]))

    def rss_mb(self, mode: str) -> float:
        return max(r.rss_kb for r in self.runs[mode]) / 1024

    def correct(self) -> bool:
        everything = [r for runs in self.runs.values() for r in runs] + list(self.cold.values())
        appended_ok = all(r.token == want for want, r in self.appended)
        return appended_ok and all(r.token == self.expected for r in everything)


def _report(label: str, mode: str, rep: object, run: Run, ok: bool) -> None:
    print(
        f"  {label:>8} {mode:6} {rep}: wall {run.wall:8.3f}s inner {run.inner:8.3f}s "
        f"rss {run.rss_kb / 1024:6.1f} MiB token {'ok' if ok else 'WRONG'}",
        file=sys.stderr,
        flush=True,
    )


def _timed(mode: str, meta: Meta, cache: Path) -> Run:
    """One child run; ``first`` gets an empty cache folder of its own (removed afterwards)."""
    if mode != "first":
        return run_child(_cmd(mode, meta.kind, meta.path), cache)
    with tempfile.TemporaryDirectory(dir=BENCH_DIR, prefix="cache-first-") as empty:
        return run_child(_cmd(mode, meta.kind, meta.path), Path(empty))


def bench_one(meta: Meta, label: str, reps: int, base_reps: int, cold: bool) -> Row:
    row = Row(meta.kind, label, meta.count, meta.bytes, meta.token)
    modes = ["cli", "lib", "first", "base"] if meta.kind == "mbox" else ["cli", "lib", "base"]
    cache = BENCH_DIR / "cache"  # the header index of every fixture, built once
    if meta.kind == "mbox":
        run_child(_cmd("lib", meta.kind, meta.path), cache)  # untimed: the index exists
    for rep in range(reps):
        order = modes[rep % len(modes) :] + modes[: rep % len(modes)]  # rotate who goes first
        for mode in order:
            if mode == "base" and rep >= base_reps:
                continue
            warm(Path(meta.path))
            run = _timed(mode, meta, cache)
            row.runs.setdefault(mode, []).append(run)
            _report(label, mode, f"rep {rep}", run, run.token == meta.token)
    if cold:
        for mode in modes:
            evict(Path(meta.path))
            run = _timed(mode, meta, cache)
            row.cold[mode] = run
            _report(label, mode, "cold ", run, run.token == meta.token)
    if meta.kind == "mbox":
        bench_append(meta, row, reps)
    return row


def bench_append(meta: Meta, row: Row, reps: int) -> None:
    """Append ~1 MiB (ending in a new token mail) to an indexed copy, then look up, ``reps``x."""
    cache = BENCH_DIR / "cache-append"
    try:
        with work_copy(Path(meta.path), BENCH_DIR) as work:
            run_child(_cmd("lib", "mbox", str(work)), cache)  # untimed: index the copy
            for rep, token in enumerate(append_rounds(work, tail_batch(work), reps)):
                run = run_child(_cmd("append", "mbox", str(work)), cache)
                row.appended.append((token, run))
                _report(row.label, "append", f"rep {rep}", run, run.token == token)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _mbox_table(rows: list[Row]) -> list[str]:
    """First lookup (index built), cached lookup and lookup after an append, vs the baseline."""
    if not rows:
        return []
    out = [
        "",
        "mbox: first lookup (builds the header index), cached lookup, lookup after a ~1 MiB "
        "append (`lib`, medians):",
        "",
        "| mailbox | first | cached | after append | baseline | baseline / first "
        "| baseline / cached | peak RSS first / cached / append | same token |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        first, lib, base = r.med("first"), r.med("lib"), r.med("base")
        append = statistics.median(run.inner for _, run in r.appended)
        rss_append = max(run.rss_kb for _, run in r.appended) / 1024
        out.append(
            f"| mbox {r.label} | {first:.3f} s | {lib:.3f} s | {append:.3f} s | {base:.2f} s "
            f"| **{base / first:.0f}x** | {base / lib:.0f}x "
            f"| {r.rss_mb('first'):.0f} / {r.rss_mb('lib'):.0f} / {rss_append:.0f} MiB "
            f"| {'yes' if r.correct() else 'NO'} |"
        )
    return out


def table(rows: list[Row]) -> str:
    out = [
        "| mailbox | messages | size | ours CLI (wall) | ours lib | baseline (runs) "
        "| baseline / lib | baseline / CLI | peak RSS ours CLI / lib / baseline | same token |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cli, lib, base = r.med("cli", "wall"), r.med("lib"), r.med("base")
        out.append(
            f"| {r.kind} {r.label} | {r.count:,} | {r.bytes / (1 << 20):,.0f} MiB "
            f"| {cli:.3f} s | {lib:.3f} s | {base:.2f} s ({len(r.runs['base'])}) "
            f"| **{base / lib:.0f}x** | {base / cli:.0f}x "
            f"| {r.rss_mb('cli'):.0f} / {r.rss_mb('lib'):.0f} / {r.rss_mb('base'):.0f} MiB "
            f"| {'yes' if r.correct() else 'NO'} |"
        )
    out += _mbox_table([r for r in rows if r.kind == "mbox"])
    cold = [r for r in rows if r.cold]
    if cold:
        out += [
            "",
            "Cold page cache (mailbox evicted before each run; one run each):",
            "",
            "| mailbox | ours CLI (wall) | ours lib | mbox first lookup | baseline "
            "| baseline / lib |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in cold:
            c = r.cold
            first = f"{c['first'].inner:.2f} s" if "first" in c else "-"
            out.append(
                f"| {r.kind} {r.label} | {c['cli'].wall:.2f} s | {c['lib'].inner:.2f} s "
                f"| {first} | {c['base'].inner:.2f} s | {c['base'].inner / c['lib'].inner:.1f}x |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mbox", default="20M,200M,2G", help="comma-separated mbox sizes ('' none)")
    ap.add_argument("--maildir", default="1000,10000,100000", help="Maildir file counts ('' none)")
    ap.add_argument("--reps", type=int, default=5, help="runs of ours per mailbox (default 5)")
    ap.add_argument(
        "--base-reps",
        type=int,
        default=None,
        help="baseline runs per mailbox (default 3, or 1 above 500 MiB / 20,000 files)",
    )
    ap.add_argument("--cold", action="store_true", help="add one cold-page-cache round")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=BENCH_DIR / "results-local.json")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    targets: list[tuple[Meta, str]] = []
    for size in filter(None, args.mbox.split(",")):
        targets.append((ensure_mbox(parse_size(size), args.seed), size))
    for count in filter(None, args.maildir.split(",")):
        targets.append((ensure_maildir(int(count), args.seed), f"{int(count):,}"))
    rows = []
    for meta, label in targets:
        big = meta.bytes > BIG_BYTES or (meta.kind == "maildir" and meta.count > BIG_FILES)
        base_reps = args.base_reps if args.base_reps is not None else (1 if big else 3)
        print(f"{meta.kind} {label}: {meta.count} messages, {meta.bytes} bytes", file=sys.stderr)
        rows.append(bench_one(meta, label, args.reps, min(base_reps, args.reps), args.cold))
    text = table(rows)
    print(text)
    args.json.write_text(
        json.dumps(
            [
                {
                    **{k: v for k, v in asdict(r).items() if k not in ("runs", "cold", "appended")},
                    "runs": {m: [asdict(x) for x in rs] for m, rs in r.runs.items()},
                    "appended": [{"expected": t, **asdict(x)} for t, x in r.appended],
                    "cold": {m: asdict(x) for m, x in r.cold.items()},
                }
                for r in rows
            ],
            indent=1,
        )
    )
    ok = all(r.correct() for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
