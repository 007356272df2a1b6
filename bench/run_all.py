"""Every lookup benchmark in one run and one process tree: start-up, API calls, IMAP sizes.

Usage (from the repository root; Dovecot 2.3 and ``imap_tools`` as for bench_imap)::

    .venv/bin/python -m bench.run_all                   # ~15 min on 2 cores
    .venv/bin/python -m bench.run_all --imap "--sizes 1000,10000 --runs 3"

Runs, one after the other in this process (so one command reproduces BENCHMARKS.md parts 1,
4 and 5 on a quieter machine): ``bench_startup`` (start-up ratios), ``bench_api`` (Gmail and
Graph round trips) and ``bench_imap`` (ours, naive and imap_tools as whole processes at 1k,
10k and 100k messages: time and bytes). Each part's Markdown goes to stdout under a heading
with the exact command that makes it alone, progress to stderr; the exit code is the highest
of the parts' (1: a target missed or a wrong token from inbox-finder).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable

from bench import bench_api, bench_imap, bench_startup

Part = tuple[str, str, Callable[[list[str] | None], int]]

PARTS: tuple[Part, ...] = (
    ("4. CLI start-up", "bench.bench_startup", bench_startup.main),
    ("5. API calls (Gmail, Graph)", "bench.bench_api", bench_api.main),
    ("1. IMAP lookup vs mailbox size", "bench.bench_imap", bench_imap.main),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--startup", default="", help="arguments for bench_startup, one string")
    ap.add_argument("--api", default="", help="arguments for bench_api, one string")
    ap.add_argument("--imap", default="", help="arguments for bench_imap, one string")
    args = ap.parse_args(argv)
    extra = {"bench.bench_startup": args.startup, "bench.bench_api": args.api}
    extra["bench.bench_imap"] = args.imap
    worst = 0
    load = os.getloadavg()
    print(f"Load average at the start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    for title, module, run in PARTS:
        part_args = shlex.split(extra[module])
        command = " ".join([".venv/bin/python -m", module, *map(shlex.quote, part_args)])
        print(f"\n## {title}\n\n`{command}`\n", flush=True)
        started = time.monotonic()
        code = run(part_args)
        sys.stdout.flush()
        print(f"\n({module}: exit {code}, {time.monotonic() - started:.0f} s)", flush=True)
        worst = max(worst, code)
    load = os.getloadavg()
    print(f"\nLoad average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
